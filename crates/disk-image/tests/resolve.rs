//! Path resolution as boot loaders do it, on an in-memory filesystem:
//! symlinks relative to their directory, absolute ones from the root,
//! `.`/`..`, loops and hop caps.

use std::collections::BTreeMap;

use disk_image::fs::{self, DirEntry, Filesystem, Node, NodeKind};
use disk_image::{DiskError, PathErrorKind, Result};
use proptest::prelude::*;

#[derive(Default, Debug, Clone)]
struct MemFs {
    nodes: BTreeMap<String, MemNode>,
}

#[derive(Debug, Clone)]
enum MemNode {
    Dir,
    File(Vec<u8>),
    Link(String),
}

impl MemFs {
    fn new() -> Self {
        let mut fs = MemFs::default();
        fs.nodes.insert("/".into(), MemNode::Dir);
        fs
    }
    fn dir(mut self, p: &str) -> Self {
        self.nodes.insert(p.into(), MemNode::Dir);
        self
    }
    fn file(mut self, p: &str, data: &[u8]) -> Self {
        self.nodes.insert(p.into(), MemNode::File(data.to_vec()));
        self
    }
    fn link(mut self, p: &str, target: &str) -> Self {
        self.nodes.insert(p.into(), MemNode::Link(target.into()));
        self
    }
    fn get(&self, path: &str) -> Result<&MemNode> {
        self.nodes.get(path).ok_or_else(|| DiskError::Path {
            path: path.into(),
            detail: "no such file or directory".into(),
            kind: PathErrorKind::NotFound,
        })
    }
}

impl Filesystem for MemFs {
    fn stat(&self, path: &str) -> Result<Node> {
        Ok(match self.get(path)? {
            MemNode::Dir => Node { kind: NodeKind::Directory, size: 0 },
            MemNode::File(d) => Node { kind: NodeKind::File, size: d.len() as u64 },
            MemNode::Link(t) => Node { kind: NodeKind::Symlink, size: t.len() as u64 },
        })
    }
    fn read_link(&self, path: &str) -> Result<String> {
        match self.get(path)? {
            MemNode::Link(t) => Ok(t.clone()),
            _ => panic!("read_link on a non-link {path}"),
        }
    }
    fn read_file(&self, path: &str, _max: u64) -> Result<Vec<u8>> {
        match self.get(path)? {
            MemNode::File(d) => Ok(d.clone()),
            other => panic!("read_file on {other:?} at {path}: resolve must hand over only regular files"),
        }
    }
    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
        Ok(self
            .nodes
            .iter()
            .filter(|(p, _)| p.starts_with(&prefix) && p.len() > prefix.len() && !p[prefix.len()..].contains('/'))
            .map(|(p, n)| DirEntry {
                name: p[prefix.len()..].to_string(),
                kind: match n {
                    MemNode::Dir => NodeKind::Directory,
                    MemNode::File(_) => NodeKind::File,
                    MemNode::Link(_) => NodeKind::Symlink,
                },
            })
            .collect())
    }
}

fn amazon_linux() -> MemFs {
    MemFs::new()
        .dir("/boot")
        .dir("/boot/grub")
        .file("/boot/grub/grub.conf", b"default=0\n")
        .link("/boot/grub/menu.lst", "./grub.conf")
}

#[test]
fn menu_lst_relative_link_resolves_in_its_directory() {
    let fs = amazon_linux();
    let (r, data) = fs::read_resolved(&fs, "/boot/grub/menu.lst", 1 << 20).unwrap();
    assert_eq!(r.path, "/boot/grub/grub.conf");
    assert_eq!(r.hops, vec![("/boot/grub/menu.lst".to_string(), "./grub.conf".to_string())]);
    assert_eq!(data, b"default=0\n");
}

#[test]
fn absolute_links_restart_at_the_root_and_dotdot_climbs() {
    let fs = amazon_linux().link("/grub", "boot/grub").link("/boot/menu", "/grub/../grub/menu.lst");
    let r = fs::resolve(&fs, "/boot/menu", 8).unwrap();
    assert_eq!(r.path, "/boot/grub/grub.conf");
    assert_eq!(r.hops.len(), 3, "{:?}", r.hops);
    assert_eq!(fs::resolve(&fs, "/../boot/./grub/../grub/grub.conf", 8).unwrap().path, "/boot/grub/grub.conf");
}

#[test]
fn loops_and_dangling_links_are_errors_with_the_path() {
    let fs = MemFs::new().dir("/g").link("/g/menu.lst", "grub.conf").link("/g/grub.conf", "menu.lst");
    let err = fs::resolve(&fs, "/g/menu.lst", 8).unwrap_err();
    assert!(matches!(err, DiskError::Path { kind: PathErrorKind::TooManySymlinks, .. }), "{err}");
    assert!(err.to_string().contains("/g/menu.lst"), "{err}");
    let fs = MemFs::new().link("/menu.lst", "nowhere");
    let err = fs::resolve(&fs, "/menu.lst", 8).unwrap_err();
    assert!(matches!(err, DiskError::Path { kind: PathErrorKind::NotFound, .. }), "{err}");
}

#[test]
fn files_in_the_middle_of_a_path_are_not_directories() {
    let fs = amazon_linux();
    let err = fs::resolve(&fs, "/boot/grub/grub.conf/x", 8).unwrap_err();
    assert!(matches!(err, DiskError::Path { kind: PathErrorKind::NotADirectory, .. }), "{err}");
    let err = fs::read_resolved(&fs, "/boot", 1 << 20).unwrap_err();
    assert!(matches!(err, DiskError::Path { kind: PathErrorKind::IsADirectory, .. }), "{err}");
}

#[test]
fn the_hop_cap_is_exact() {
    // A chain of n links: resolvable with n hops allowed, not with n - 1.
    let mut fs = MemFs::new().file("/end", b"x");
    for i in 0..5 {
        let target = if i == 0 { "end".to_string() } else { format!("l{}", i - 1) };
        fs = fs.link(&format!("/l{i}"), &target);
    }
    assert_eq!(fs::resolve(&fs, "/l4", 5).unwrap().hops.len(), 5);
    assert!(fs::resolve(&fs, "/l4", 4).is_err());
}

proptest! {
    /// Random link graphs over a few names: resolution always ends (in a
    /// regular answer or an error), never hands a symlink back as the
    /// result, and never exceeds the hop cap.
    #[test]
    fn random_link_graphs_terminate(targets in proptest::collection::vec(
        prop_oneof![
            Just("a".to_string()), Just("b".to_string()), Just("/d/c".to_string()),
            Just("../a".to_string()), Just("./b".to_string()), Just("/d".to_string()), Just("file".to_string())
        ], 4), path in prop_oneof![Just("/a"), Just("/b"), Just("/d/c"), Just("/d/a/x")]) {
        let fs = MemFs::new().dir("/d").file("/file", b"data").file("/d/file", b"d")
            .link("/a", &targets[0]).link("/b", &targets[1]).link("/d/c", &targets[2]).link("/d/a", &targets[3]);
        if let Ok(r) = fs::resolve(&fs, path, 8) {
            prop_assert!(r.hops.len() <= 8);
            prop_assert_ne!(r.node.kind, NodeKind::Symlink);
            prop_assert!(r.path.starts_with('/'));
        }
    }
}
