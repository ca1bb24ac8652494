//! The AMI layer: registry, launch permissions, the instance-type table,
//! image integrity, concurrent writers, corruption, storage footprint.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ami::footprint::BLOCK_SIZE;
use ami::{
    Account, AmiError, LaunchGrant, RegisterRequest, Registry, RootDeviceType, StepClock, VirtualizationType,
    instance_types::{FAMILIES, InstanceType},
};

const OWNER: &str = "111122223333";
const FRIEND: &str = "444455556666";
const OTHER: &str = "777788889999";

fn acct(s: &str) -> Account {
    Account::parse(s).unwrap()
}

fn registry(dir: &Path) -> Registry {
    Registry::open_with_clock(&dir.join("amis.db"), Arc::new(StepClock::new(1_700_000_000, 60))).unwrap()
}

/// An image of `blocks` 512 KiB blocks; block i filled with `fill(i)`
/// (0 = all zero).
fn image(dir: &Path, name: &str, blocks: u64, fill: impl Fn(u64) -> u8) -> PathBuf {
    let mut bytes = Vec::with_capacity((blocks * BLOCK_SIZE) as usize);
    for i in 0..blocks {
        bytes.extend(std::iter::repeat_n(fill(i), BLOCK_SIZE as usize));
    }
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn req(image: &Path, name: &str, v: VirtualizationType, root: RootDeviceType) -> RegisterRequest {
    RegisterRequest {
        image: image.to_path_buf(),
        name: name.into(),
        virtualization: v,
        root_device: root,
        loader: None,
        owner: acct(OWNER),
        region: "us-east-1".into(),
        tags: vec![("team".into(), "lab".into())],
    }
}

#[test]
fn register_get_list_deregister() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.img", 2, |i| i as u8 + 1);
    let mut reg = registry(dir.path());
    let a = reg.register(req(&img, "first", VirtualizationType::Paravirtual, RootDeviceType::Ebs)).unwrap();
    assert_eq!(a.loader.unwrap().name(), "pvgrub-aws", "PV defaults to PV-GRUB (the AWS build)");
    assert_eq!(a.image_size, 2 * BLOCK_SIZE);
    assert_eq!(a.image_digest.len(), 64);
    assert_eq!(a.image_digest_alg, ami::image::DigestAlg::Blocks512k);
    assert_eq!(a.created, 1_700_000_000);
    assert_eq!(reg.get(a.id.as_str()).unwrap(), a);
    // Same image, name, region and owner: same id, refused.
    let again = reg.register(req(&img, "first", VirtualizationType::Paravirtual, RootDeviceType::Ebs)).unwrap_err();
    assert!(matches!(again, AmiError::Exists { .. }), "{again}");
    let b = reg.register(req(&img, "second", VirtualizationType::Hvm, RootDeviceType::InstanceStore)).unwrap();
    assert!(b.loader.is_none());
    let ids: Vec<_> = reg.list().unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(ids, vec![a.id.clone(), b.id.clone()]);
    reg.deregister(a.id.as_str()).unwrap();
    assert!(matches!(reg.get(a.id.as_str()), Err(AmiError::UnknownAmi { .. })));
    assert!(matches!(reg.deregister(a.id.as_str()), Err(AmiError::UnknownAmi { .. })));
    assert!(img.exists(), "deregister leaves the image alone");
}

#[test]
fn bad_register_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.img", 1, |_| 1);
    let mut reg = registry(dir.path());
    let mut r = req(&img, "x", VirtualizationType::Hvm, RootDeviceType::Ebs);
    assert!(matches!(reg.register(r.clone()), Err(AmiError::Invalid { what: "AMI name", .. })));
    r.name = "ok name".into();
    r.loader = Some(boot_config::discover::Loader::Pygrub);
    assert!(matches!(reg.register(r.clone()), Err(AmiError::Invalid { what: "loader", .. })));
    r.loader = None;
    r.tags = vec![("aws:reserved".into(), "v".into())];
    assert!(matches!(reg.register(r.clone()), Err(AmiError::Invalid { what: "tag", .. })));
    r.tags.clear();
    r.image = dir.path().join("missing.img");
    assert!(reg.register(r).is_err());
    assert!(reg.list().unwrap().is_empty(), "nothing half-registered");
}

#[test]
fn permission_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.img", 1, |_| 7);
    let mut reg = registry(dir.path());
    let a = reg.register(req(&img, "perm", VirtualizationType::Hvm, RootDeviceType::Ebs)).unwrap();
    let id = a.id.as_str();
    let check = |reg: &Registry, who: &str| reg.get(id).unwrap().check_launch_permission(&acct(who));

    // Implicit: owner only.
    assert_eq!(check(&reg, OWNER).unwrap(), LaunchGrant::Owner);
    for who in [FRIEND, OTHER] {
        let e = check(&reg, who).unwrap_err();
        assert!(e.is_refusal());
        assert!(e.to_string().contains(who), "refusal names the account: {e}");
    }
    // Explicit account.
    reg.modify_permissions(id, &[acct(FRIEND)], &[], None).unwrap();
    assert_eq!(check(&reg, OWNER).unwrap(), LaunchGrant::Owner);
    assert_eq!(check(&reg, FRIEND).unwrap(), LaunchGrant::Explicit);
    assert!(check(&reg, OTHER).is_err());
    // Public.
    reg.modify_permissions(id, &[], &[], Some(true)).unwrap();
    assert_eq!(check(&reg, FRIEND).unwrap(), LaunchGrant::Explicit);
    assert_eq!(check(&reg, OTHER).unwrap(), LaunchGrant::Public);
    // Private again, friend removed.
    reg.modify_permissions(id, &[], &[acct(FRIEND)], Some(false)).unwrap();
    assert!(check(&reg, FRIEND).is_err());
    assert!(check(&reg, OTHER).is_err());
    assert_eq!(check(&reg, OWNER).unwrap(), LaunchGrant::Owner);
    // The owner is implicit; adding it is an error.
    assert!(matches!(reg.modify_permissions(id, &[acct(OWNER)], &[], None), Err(AmiError::Invalid { .. })));
    // prepare_launch applies the same rule.
    let e = reg.prepare_launch(id, "t2.micro", &acct(OTHER)).unwrap_err();
    assert!(matches!(e, AmiError::PermissionDenied { .. }), "{e}");
    assert!(matches!(reg.modify_permissions("ami-00000000", &[], &[], Some(true)), Err(AmiError::UnknownAmi { .. })));
}

#[test]
fn instance_type_matrix() {
    use VirtualizationType::{Hvm, Paravirtual as Pv};
    // (type, hvm, pv) from the table's sources (DESIGN.md "AMI facts").
    let matrix = [
        ("t2.micro", true, false),
        ("t3.nano", true, false),
        ("m5.large", true, false),
        ("c5.xlarge", true, false),
        ("g4dn.xlarge", true, false),
        ("cc2.8xlarge", true, false),
        ("cr1.8xlarge", true, false),
        ("hi1.4xlarge", true, true),
        ("hs1.8xlarge", true, true),
        ("c3.large", true, true),
        ("m3.medium", true, true),
        ("c1.medium", false, true),
        ("m1.small", false, true),
        ("m2.xlarge", false, true),
        ("t1.micro", false, true),
    ];
    for (name, hvm, pv) in matrix {
        let t = InstanceType::parse(name).unwrap();
        assert_eq!(t.check(Hvm, RootDeviceType::Ebs).is_ok(), hvm, "{name} hvm");
        assert_eq!(t.check(Pv, RootDeviceType::Ebs).is_ok(), pv, "{name} pv");
    }
    // Every family in the table supports at least one type of AMI.
    for f in FAMILIES {
        assert!(f.hvm || f.paravirtual, "{}", f.name);
        assert!(f.paravirtual || f.hvm);
    }
    let e = InstanceType::parse("t2.micro").unwrap().check(Pv, RootDeviceType::Ebs).unwrap_err();
    assert!(e.to_string().starts_with("t2.micro does not support paravirtual AMIs"), "{e}");
    let e = InstanceType::parse("m1.small").unwrap().check(Hvm, RootDeviceType::Ebs).unwrap_err();
    assert!(e.to_string().starts_with("m1.small does not support hvm AMIs"), "{e}");
    // Instance-store roots: only C1, C3, D2, I2, M1, M2, M3, R3, X1.
    assert!(InstanceType::parse("m1.small").unwrap().check(Pv, RootDeviceType::InstanceStore).is_ok());
    let e = InstanceType::parse("t2.micro").unwrap().check(Hvm, RootDeviceType::InstanceStore).unwrap_err();
    assert!(e.to_string().contains("instance-store root volumes"), "{e}");
    // Graviton is not x86.
    assert!(InstanceType::parse("t4g.micro").unwrap().check(Hvm, RootDeviceType::Ebs).is_err());
    // Unknown family, unknown size, malformed.
    for bad in ["t9.micro", "t2.huge", "t2micro", ""] {
        assert!(matches!(InstanceType::parse(bad), Err(AmiError::UnknownInstanceType { .. })), "{bad}");
    }
    // What needs HVM.
    let notes = InstanceType::parse("c3.large").unwrap().notes(Pv).join("\n");
    assert!(notes.contains("enhanced networking needs an HVM AMI"), "{notes}");
    let notes = InstanceType::parse("g4dn.xlarge").unwrap().notes(Hvm).join("\n");
    assert!(notes.contains("GPU"), "{notes}");
}

#[test]
fn launch_refuses_a_changed_or_missing_image() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.img", 1, |_| 3);
    let mut reg = registry(dir.path());
    let a = reg.register(req(&img, "hash", VirtualizationType::Hvm, RootDeviceType::Ebs)).unwrap();
    let plan = reg.prepare_launch(a.id.as_str(), "t2.micro", &acct(OWNER)).unwrap();
    assert_eq!(plan.grant, LaunchGrant::Owner);
    drop(plan);
    // Same size, one byte different.
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&img, &bytes).unwrap();
    let e = reg.prepare_launch(a.id.as_str(), "t2.micro", &acct(OWNER)).unwrap_err();
    let msg = e.to_string();
    match &e {
        AmiError::ImageChanged { registered_digest, current_digest, .. } => {
            assert_ne!(registered_digest, current_digest);
            assert!(msg.contains(registered_digest.as_str()) && msg.contains(current_digest.as_str()), "{msg}");
        }
        other => panic!("{other}"),
    }
    std::fs::remove_file(&img).unwrap();
    let e = reg.prepare_launch(a.id.as_str(), "t2.micro", &acct(OWNER)).unwrap_err();
    assert!(matches!(e, AmiError::ImageMissing { .. }), "{e}");
    // Unknown AMI / instance type.
    assert!(matches!(reg.prepare_launch("ami-0123456789", "t2.micro", &acct(OWNER)), Err(AmiError::UnknownAmi { .. })));
    assert!(matches!(
        reg.prepare_launch(a.id.as_str(), "q7.micro", &acct(OWNER)),
        Err(AmiError::UnknownInstanceType { .. })
    ));
}

#[test]
fn copy_drops_permissions_and_tags() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.img", 1, |_| 9);
    let mut reg = registry(dir.path());
    let a = reg.register(req(&img, "src", VirtualizationType::Paravirtual, RootDeviceType::Ebs)).unwrap();
    reg.modify_permissions(a.id.as_str(), &[acct(FRIEND)], &[], Some(true)).unwrap();
    let c = reg.copy(a.id.as_str(), "eu-west-1", None).unwrap();
    assert_ne!(c.id, a.id);
    assert_eq!(c.region, "eu-west-1");
    assert_eq!(c.copied_from.as_ref(), Some(&a.id));
    assert!(!c.public && c.launch_permissions.is_empty() && c.tags.is_empty());
    assert_eq!((c.image_digest.as_str(), c.loader), (a.image_digest.as_str(), a.loader));
    assert!(c.created > a.created);
    assert!(matches!(reg.copy(a.id.as_str(), "eu-west-1", None), Err(AmiError::Exists { .. })));
    assert!(matches!(reg.copy(a.id.as_str(), "nowhere", None), Err(AmiError::Invalid { .. })));
    // The copy costs nothing: as an EBS AMI made from the source, it
    // changes no block.
    let f = ami::footprint(&[reg.get(a.id.as_str()).unwrap(), c]).unwrap();
    assert_eq!(f.entries[1].stored_bytes, 0);
}

#[test]
fn footprint_of_generated_chains() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // base: 8 blocks, blocks 0..6 data, 6 and 7 zero → 6 stored.
    let base = image(d, "base.img", 8, |i| if i < 6 { 0x10 + i as u8 } else { 0 });
    // v2: blocks 1 and 2 rewritten, block 6 written, block 5 zeroed →
    // changed 4, stored 3 (the zeroed block is changed but not stored).
    let v2 = image(d, "v2.img", 8, |i| match i {
        1 | 2 => 0xA0 + i as u8,
        6 => 0x66,
        5 | 7 => 0,
        _ => 0x10 + i as u8,
    });
    // v3: v2 grown by two blocks, one zero, one data → 1 changed and stored.
    let v3 = image(d, "v3.img", 10, |i| match i {
        1 | 2 => 0xA0 + i as u8,
        6 => 0x66,
        5 | 7 | 8 => 0,
        9 => 0x99,
        _ => 0x10 + i as u8,
    });
    let mut reg = registry(d);
    let mut reg_as = |p: &Path, n: &str, root| reg.register(req(p, n, VirtualizationType::Hvm, root)).unwrap();
    let a = reg_as(&base, "ami base", RootDeviceType::Ebs);
    let b = reg_as(&v2, "ami v2", RootDeviceType::Ebs);
    let c = reg_as(&v3, "ami v3", RootDeviceType::Ebs);
    // Given out of order: the chain is ordered by creation.
    let f = ami::footprint(&[c.clone(), a.clone(), b.clone()]).unwrap();
    let got: Vec<(u64, u64, u64)> =
        f.entries.iter().map(|e| (e.changed_blocks, e.stored_blocks, e.zeroed_blocks)).collect();
    assert_eq!(got, vec![(6, 6, 0), (4, 3, 1), (1, 1, 0)]);
    assert_eq!(f.entries[0].base, None);
    assert_eq!(f.entries[1].base.as_ref(), Some(&a.id));
    assert_eq!(f.total_stored_bytes, 10 * BLOCK_SIZE);
    assert_eq!(f.total_image_bytes, 26 * BLOCK_SIZE);

    // Instance store: a full copy each, whatever changed.
    let mut reg = registry(&d.join("is"));
    let mut reg_is = |p: &Path, n: &str| {
        reg.register(req(p, n, VirtualizationType::Paravirtual, RootDeviceType::InstanceStore)).unwrap()
    };
    let chain = [reg_is(&base, "ami base"), reg_is(&v2, "ami v2"), reg_is(&v3, "ami v3")];
    let f = ami::footprint(&chain).unwrap();
    assert_eq!(
        f.entries.iter().map(|e| e.stored_bytes).collect::<Vec<_>>(),
        vec![8 * BLOCK_SIZE, 8 * BLOCK_SIZE, 10 * BLOCK_SIZE]
    );
    assert_eq!(f.total_stored_bytes, 26 * BLOCK_SIZE);

    // A short last block counts its real length.
    let odd = d.join("odd.img");
    std::fs::write(&odd, vec![1u8; BLOCK_SIZE as usize + 1000]).unwrap();
    let mut reg = registry(&d.join("odd"));
    let o = reg.register(req(&odd, "odd", VirtualizationType::Hvm, RootDeviceType::Ebs)).unwrap();
    let f = ami::footprint(std::slice::from_ref(&o)).unwrap();
    assert_eq!((f.entries[0].blocks, f.entries[0].stored_bytes), (2, BLOCK_SIZE + 1000));

    // A changed image is refused here too.
    std::fs::write(&odd, vec![2u8; BLOCK_SIZE as usize + 1000]).unwrap();
    assert!(matches!(ami::footprint(&[o]), Err(AmiError::ImageChanged { .. })));
}

#[test]
fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.img", 1, |_| 5);
    let db = dir.path().join("amis.db");
    // Each thread opens its own connection (as two processes would) and
    // races the schema creation too.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            let img = img.clone();
            std::thread::spawn(move || {
                let mut reg = Registry::open(&db).unwrap();
                let mut ids = Vec::new();
                for i in 0..15 {
                    let a = reg
                        .register(req(&img, &format!("t{t} image {i}"), VirtualizationType::Hvm, RootDeviceType::Ebs))
                        .unwrap();
                    ids.push(a.id);
                }
                let first = ids[0].clone();
                for i in 0..10 {
                    let a = acct(&format!("{:012}", 100 * t + i));
                    reg.modify_permissions(first.as_str(), &[a], &[], None).unwrap();
                }
                ids
            })
        })
        .collect();
    let ids: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let reg = Registry::open(&db).unwrap();
    let all = reg.list().unwrap();
    assert_eq!(all.len(), 60);
    assert_eq!(ids.len(), 60);
    let with_perms = all.iter().filter(|a| a.launch_permissions.len() == 10).count();
    assert_eq!(with_perms, 4);
}

#[test]
fn corrupt_or_foreign_registry_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"this is not an sqlite database, just text that is long enough ".repeat(100)).unwrap();
    let e = Registry::open(&garbage).unwrap_err();
    assert!(matches!(e, AmiError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("garbage.db"), "{e}");

    // A healthy registry whose pages were damaged.
    let db = dir.path().join("damaged.db");
    {
        let img = image(dir.path(), "a.img", 1, |_| 5);
        let mut reg = Registry::open(&db).unwrap();
        for i in 0..40 {
            reg.register(req(&img, &format!("image number {i}"), VirtualizationType::Hvm, RootDeviceType::Ebs))
                .unwrap();
        }
    }
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 8192);
    for b in &mut bytes[4096..8192] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let e = Registry::open(&db).map(|r| r.list()).and_then(|r| r).unwrap_err();
    assert!(matches!(e, AmiError::Corrupt { .. }), "{e}");

    // Some other program's SQLite database.
    let foreign = dir.path().join("foreign.db");
    foreign_db(&foreign);
    let e = Registry::open(&foreign).unwrap_err();
    assert!(e.to_string().contains("not a boot-sim AMI registry"), "{e}");

    // An empty file is a new registry.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    assert!(Registry::open(&empty).unwrap().list().unwrap().is_empty());
}

/// Another program's SQLite database: a valid file whose application id
/// (SQLite file format, database header offset 68, big-endian) is not ours.
fn foreign_db(path: &Path) {
    Registry::open(path).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    bytes[68..72].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}

/// The digest depends on the bytes only: a sparse file, its non-sparse
/// copy (`cp --sparse=never`) and the same bytes written by us agree;
/// one byte more or different does not.
#[test]
fn digest_ignores_sparseness_and_sees_every_byte() {
    use ami::image::{DigestAlg, digest, digest_with};
    use disk_image::RawImage;
    let dir = tempfile::tempdir().unwrap();
    let sparse = dir.path().join("sparse.img");
    // 64 MiB: data at 0, in the middle of a block at 10 MiB + 4097, and in
    // the last (short) block; holes elsewhere.
    let size = 64 * 1024 * 1024 + 1234;
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(&sparse).unwrap();
        f.set_len(size).unwrap();
        f.write_all_at(b"boot sector", 0).unwrap();
        f.write_all_at(b"middle", 10 * 1024 * 1024 + 4097).unwrap();
        f.write_all_at(b"end", size - 3).unwrap();
    }
    let dense = dir.path().join("dense.img");
    let cp = std::process::Command::new("cp").arg("--sparse=never").arg(&sparse).arg(&dense).status();
    if !cp.is_ok_and(|s| s.success()) {
        std::fs::write(&dense, std::fs::read(&sparse).unwrap()).unwrap();
    }
    let blocks = |p: &Path| std::fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::blocks(&m)).unwrap();
    assert!(blocks(&sparse) < blocks(&dense), "the copy is not sparse");
    let d_sparse = digest(&RawImage::open(&sparse).unwrap()).unwrap();
    let d_dense = digest(&RawImage::open(&dense).unwrap()).unwrap();
    assert_eq!(d_sparse, d_dense);
    assert_eq!(d_sparse.0, size);
    // The version-1 digest is the file's SHA-256, sparse or not.
    let whole = |p: &Path| digest_with(&RawImage::open(p).unwrap(), DigestAlg::Sha256, &mut |_| {}).unwrap();
    assert_eq!(whole(&sparse), whole(&dense));
    {
        use sha2::Digest;
        assert_eq!(whole(&dense).1, format!("{:x}", sha2::Sha256::digest(std::fs::read(&dense).unwrap())));
    }
    // One byte changed in a hole, one byte appended: other digests.
    let changed = dir.path().join("changed.img");
    std::fs::copy(&dense, &changed).unwrap();
    {
        use std::os::unix::fs::FileExt;
        std::fs::OpenOptions::new().write(true).open(&changed).unwrap().write_all_at(b"x", 40 << 20).unwrap();
    }
    assert_ne!(digest(&RawImage::open(&changed).unwrap()).unwrap().1, d_dense.1);
    let longer = dir.path().join("longer.img");
    std::fs::copy(&sparse, &longer).unwrap();
    std::fs::OpenOptions::new().write(true).open(&longer).unwrap().set_len(size + 1).unwrap();
    assert_ne!(digest(&RawImage::open(&longer).unwrap()).unwrap().1, d_dense.1);
}

#[test]
fn an_empty_or_short_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = registry(dir.path());
    for len in [0usize, 511] {
        let p = dir.path().join(format!("short-{len}.img"));
        std::fs::write(&p, vec![0u8; len]).unwrap();
        let e = reg.register(req(&p, "short", VirtualizationType::Hvm, RootDeviceType::Ebs)).unwrap_err();
        assert!(matches!(e, AmiError::Invalid { what: "image", .. }), "{e}");
        assert!(e.to_string().contains(&format!("it is {len} bytes, shorter than one 512-byte sector")), "{e}");
    }
    assert!(reg.list().unwrap().is_empty());
}

/// A registry written by schema version 1 (the whole-file SHA-256 in
/// `image_sha256`) is migrated on open; its AMIs keep their digest and are
/// still verified the way they were registered.
#[test]
fn a_version_1_registry_is_migrated() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.img", 3, |i| i as u8);
    let sha = format!("{:x}", sha2::Sha256::digest(std::fs::read(&img).unwrap()));
    let db = dir.path().join("v1.db");
    {
        // The version-1 schema, as boot-sim wrote it.
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "BEGIN;
             CREATE TABLE amis (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
                 image_path TEXT NOT NULL, image_size INTEGER NOT NULL CHECK (image_size >= 0), image_sha256 TEXT NOT NULL,
                 virtualization TEXT NOT NULL CHECK (virtualization IN ('hvm', 'paravirtual')),
                 root_device TEXT NOT NULL CHECK (root_device IN ('ebs', 'instance-store')), loader TEXT,
                 owner TEXT NOT NULL, public INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)), region TEXT NOT NULL,
                 created INTEGER NOT NULL, copied_from TEXT, UNIQUE (owner, region, name));
             CREATE TABLE launch_permissions (ami TEXT NOT NULL REFERENCES amis(id) ON DELETE CASCADE, account TEXT NOT NULL, PRIMARY KEY (ami, account));
             CREATE TABLE tags (ami TEXT NOT NULL REFERENCES amis(id) ON DELETE CASCADE, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ami, key));
             PRAGMA application_id = 1112752461;
             PRAGMA user_version = 1;
             COMMIT;",
        )
        .unwrap();
        c.execute(
            "INSERT INTO amis (id, name, image_path, image_size, image_sha256, virtualization, root_device, owner, region, created)
             VALUES ('ami-00000000000000001', 'old one', ?1, ?2, ?3, 'hvm', 'ebs', ?4, 'us-east-1', 1700000000)",
            rusqlite::params![img.to_str().unwrap(), 3 * BLOCK_SIZE as i64, sha, OWNER],
        )
        .unwrap();
    }
    let mut reg = Registry::open(&db).unwrap();
    let old = reg.get("ami-00000000000000001").unwrap();
    assert_eq!((old.image_digest.as_str(), old.image_digest_alg), (sha.as_str(), ami::image::DigestAlg::Sha256));
    reg.prepare_launch(old.id.as_str(), "t2.micro", &acct(OWNER)).unwrap();
    let new = reg.register(req(&img, "new one", VirtualizationType::Hvm, RootDeviceType::Ebs)).unwrap();
    assert_eq!(new.image_digest_alg, ami::image::DigestAlg::Blocks512k);
    assert_ne!(new.image_digest, sha);
    let user_version: i64 =
        rusqlite::Connection::open(&db).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(user_version, ami::registry::SCHEMA_VERSION);
    // The old AMI's image changed: refused, in the terms it was registered in.
    std::fs::write(&img, [9u8; 1024]).unwrap();
    let e = reg.prepare_launch(old.id.as_str(), "t2.micro", &acct(OWNER)).unwrap_err();
    assert!(e.to_string().contains("bytes, sha256 "), "{e}");
    // Opened again: nothing left to migrate.
    drop(reg);
    assert_eq!(Registry::open(&db).unwrap().list().unwrap().len(), 2);
}

/// Footprint of sparse images reads their data, not their size: two 64 GiB
/// sparse images (a few data blocks each) as an EBS chain.
#[test]
fn footprint_of_sparse_images_skips_holes() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let size = 64u64 << 30;
    let make = |name: &str, blocks: &[u64]| {
        let p = dir.path().join(name);
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(size).unwrap();
        for &b in blocks {
            f.write_all_at(&[0xab; 100], b * BLOCK_SIZE + 7).unwrap();
        }
        p
    };
    let a = make("a.img", &[0, 8192, 100_000]);
    let b = make("b.img", &[0, 8192, 100_000, 120_000]);
    let mut reg = registry(dir.path());
    let ra = reg.register(req(&a, "sparse a", VirtualizationType::Hvm, RootDeviceType::Ebs)).unwrap();
    let rb = reg.register(req(&b, "sparse b", VirtualizationType::Hvm, RootDeviceType::Ebs)).unwrap();
    let f = ami::footprint(&[ra, rb]).unwrap();
    assert_eq!(f.entries[0].stored_blocks, 3);
    assert_eq!((f.entries[1].changed_blocks, f.entries[1].stored_blocks), (1, 1));
    assert_eq!(f.total_stored_bytes, 4 * BLOCK_SIZE);
}
