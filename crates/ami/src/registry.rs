//! The local AMI registry: one SQLite file.
//!
//! - Default path: `$XDG_DATA_HOME/boot-sim/amis.db`, else
//!   `~/.local/share/boot-sim/amis.db` (XDG Base Directory spec: a relative
//!   `XDG_DATA_HOME` is ignored).
//! - Every mutation is one `BEGIN IMMEDIATE` transaction: the write lock is
//!   taken before anything is read, so two writers never interleave a
//!   read-check-write, and a failure rolls back (the file is never left
//!   half-written). A writer that finds the file locked waits up to
//!   [`BUSY_TIMEOUT`] (SQLite's busy handler) before failing.
//! - The file is marked with `PRAGMA application_id` ([`APPLICATION_ID`])
//!   and `PRAGMA user_version` ([`SCHEMA_VERSION`]); a file that is not an
//!   SQLite database, fails `PRAGMA quick_check`, or belongs to another
//!   program is [`AmiError::Corrupt`].
//! - The schema, the application id and the version are written in one
//!   `BEGIN IMMEDIATE` transaction, and the three are read back in one
//!   read transaction, so another process never sees them half made. A
//!   file that still looks half made (our tables without our id) is
//!   waited for, a bounded [`SCHEMA_WAIT`], before it is called corrupt.
//! - Schema versions: 1 recorded `image_sha256`, the SHA-256 of the whole
//!   image; 2 records `image_digest` with `image_digest_alg` (see
//!   [`crate::image`]). Opening a version-1 registry migrates it in one
//!   immediate transaction: the column is renamed and its AMIs keep
//!   `sha256`, so their images are still checked the way they were
//!   registered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use boot_config::discover::Loader;
use disk_image::{RawImage, ReadAt};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::image::{self, DigestAlg};
use crate::instance_types::InstanceType;
use crate::model::{
    Account, Ami, AmiId, Clock, LaunchGrant, RootDeviceType, SystemClock, VirtualizationType, validate_name,
    validate_region, validate_tag,
};
use crate::{AmiError, Result};

/// "BSAM" — identifies a boot-sim AMI registry.
pub const APPLICATION_ID: i32 = 0x4253_414D;
pub const SCHEMA_VERSION: i64 = 2;
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a registry that looks half made is waited for.
pub const SCHEMA_WAIT: Duration = Duration::from_secs(2);

/// The tables of our schema (and SQLite's own for AUTOINCREMENT).
const OUR_TABLES: &str = "'amis', 'launch_permissions', 'tags', 'sqlite_sequence'";

const SCHEMA: &str = "
CREATE TABLE amis (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    image_path     TEXT NOT NULL,
    image_size     INTEGER NOT NULL CHECK (image_size >= 0),
    image_digest   TEXT NOT NULL,
    image_digest_alg TEXT NOT NULL CHECK (image_digest_alg IN ('sha256', 'sha256-blocks-512k')),
    virtualization TEXT NOT NULL CHECK (virtualization IN ('hvm', 'paravirtual')),
    root_device    TEXT NOT NULL CHECK (root_device IN ('ebs', 'instance-store')),
    loader         TEXT,
    owner          TEXT NOT NULL,
    public         INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
    region         TEXT NOT NULL,
    created        INTEGER NOT NULL,
    copied_from    TEXT,
    UNIQUE (owner, region, name)
);
CREATE TABLE launch_permissions (
    ami     TEXT NOT NULL REFERENCES amis(id) ON DELETE CASCADE,
    account TEXT NOT NULL,
    PRIMARY KEY (ami, account)
);
CREATE TABLE tags (
    ami   TEXT NOT NULL REFERENCES amis(id) ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (ami, key)
);
";

/// Version 1 to 2: the whole-file SHA-256 becomes a digest with its
/// definition; existing AMIs keep theirs (`sha256`).
const MIGRATE_1_TO_2: &str = "
ALTER TABLE amis RENAME COLUMN image_sha256 TO image_digest;
ALTER TABLE amis ADD COLUMN image_digest_alg TEXT NOT NULL DEFAULT 'sha256'
    CHECK (image_digest_alg IN ('sha256', 'sha256-blocks-512k'));
";

/// What `ami register` is given.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    pub image: PathBuf,
    pub name: String,
    pub virtualization: VirtualizationType,
    pub root_device: RootDeviceType,
    /// PV loader; `None` for HVM (given with HVM it is an error).
    pub loader: Option<Loader>,
    pub owner: Account,
    pub region: String,
    pub tags: Vec<(String, String)>,
}

/// A launch that passed every check: who launches, on what, and the image
/// handle that was verified.
#[derive(Debug)]
pub struct LaunchPlan {
    pub ami: Ami,
    pub instance_type: InstanceType,
    pub account: Account,
    pub grant: LaunchGrant,
    pub notes: Vec<String>,
    pub image: RawImage,
}

pub struct Registry {
    conn: Connection,
    path: PathBuf,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("path", &self.path).finish_non_exhaustive()
    }
}

/// `$XDG_DATA_HOME/boot-sim/amis.db` or `~/.local/share/boot-sim/amis.db`.
pub fn default_path() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        std::env::var_os("HOME").map(PathBuf::from).filter(|p| p.is_absolute()).map(|h| h.join(".local/share"))
    })?;
    Some(base.join("boot-sim").join("amis.db"))
}

const AMI_COLUMNS: &str = "id, name, image_path, image_size, image_digest, image_digest_alg, virtualization, root_device, loader, owner, public, region, created, copied_from";

struct Row {
    id: String,
    name: String,
    image: String,
    size: i64,
    digest: String,
    alg: String,
    virt: String,
    root: String,
    loader: Option<String>,
    owner: String,
    public: bool,
    region: String,
    created: i64,
    copied_from: Option<String>,
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        name: r.get(1)?,
        image: r.get(2)?,
        size: r.get(3)?,
        digest: r.get(4)?,
        alg: r.get(5)?,
        virt: r.get(6)?,
        root: r.get(7)?,
        loader: r.get(8)?,
        owner: r.get(9)?,
        public: r.get(10)?,
        region: r.get(11)?,
        created: r.get(12)?,
        copied_from: r.get(13)?,
    })
}

impl Registry {
    /// Opens (creating it and its directory if needed) the registry at `path`.
    pub fn open(path: &Path) -> Result<Registry> {
        Registry::open_with_clock(path, Arc::new(SystemClock))
    }

    pub fn open_with_clock(path: &Path, clock: Arc<dyn Clock>) -> Result<Registry> {
        // SQLite would block opening a FIFO and fail oddly on a device: the
        // registry is a regular file, or not there yet.
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => {
                return Err(AmiError::Invalid {
                    what: "registry path",
                    value: path.display().to_string(),
                    why: "it is not a regular file (a directory, device, FIFO or socket); an AMI registry is an SQLite file".into(),
                });
            }
            _ => {}
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| AmiError::Io { path: dir.to_path_buf(), source })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut reg = Registry {
            conn: Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, e))?,
            path: path.to_path_buf(),
            clock,
        };
        reg.conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| reg.err(e))?;
        reg.conn.pragma_update(None, "foreign_keys", true).map_err(|e| reg.err(e))?;
        reg.init()?;
        Ok(reg)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> AmiError {
        sql_error(&self.path, e)
    }

    fn corrupt(&self, detail: impl Into<String>) -> AmiError {
        AmiError::Corrupt { path: self.path.clone(), detail: detail.into() }
    }

    /// Checks the file, creating the schema in an empty one and migrating
    /// an older one. Every decision to write is taken again under the
    /// write lock: several processes may open a new registry at once.
    fn init(&mut self) -> Result<()> {
        let check: String = self.conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(|e| self.err(e))?;
        if check != "ok" {
            return Err(self.corrupt(format!("PRAGMA quick_check: {check}")));
        }
        let start = std::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match self.state(&read_header(&self.conn).map_err(|e| self.err(e))?)? {
                State::Ready => return Ok(()),
                State::Empty | State::Version1 => self.create_or_migrate()?,
                State::HalfMade(why) => {
                    if start.elapsed() >= SCHEMA_WAIT {
                        return Err(self.corrupt(format!("{why}, still after {} s", SCHEMA_WAIT.as_secs())));
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
            }
        }
    }

    /// Under the write lock: the schema in an empty file, or the migration
    /// of a version-1 file; nothing when another writer did it first.
    fn create_or_migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let tx = Transaction::immediate(&mut self.conn).map_err(|e| sql_error(&path, e))?;
        let header = read_header(&tx).map_err(|e| sql_error(&path, e))?;
        let sql = |e| sql_error(&path, e);
        match (header.app, header.version, header.tables) {
            (0, 0, 0) => {
                tx.execute_batch(SCHEMA).map_err(sql)?;
                tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(sql)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(sql)?;
            }
            (APPLICATION_ID, 1, _) => {
                tx.execute_batch(MIGRATE_1_TO_2).map_err(sql)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(sql)?;
            }
            _ => {}
        }
        tx.commit().map_err(sql)
    }

    fn state(&self, h: &Header) -> Result<State> {
        if h.tables == 0 && h.app == 0 && h.version == 0 {
            return Ok(State::Empty);
        }
        if h.app == 0 && h.version == 0 && h.foreign_tables == 0 {
            // Only our tables, without our id: a schema being made.
            return Ok(State::HalfMade(format!("{} of our tables but no application_id", h.tables)));
        }
        if h.app != APPLICATION_ID {
            return Err(self.corrupt(format!(
                "an SQLite database with application_id {:#x} and {} tables, not a boot-sim AMI registry ({APPLICATION_ID:#x})",
                h.app, h.tables
            )));
        }
        if h.version > SCHEMA_VERSION {
            return Err(AmiError::NewerSchema { path: self.path.clone(), found: h.version, supported: SCHEMA_VERSION });
        }
        if h.version == 1 && h.tables >= 3 {
            return Ok(State::Version1);
        }
        if h.version != SCHEMA_VERSION || h.tables < 3 {
            return Err(self.corrupt(format!("schema version {} with {} tables", h.version, h.tables)));
        }
        Ok(State::Ready)
    }

    fn write<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction<'_>, &Path) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let tx = Transaction::immediate(&mut self.conn).map_err(|e| sql_error(&path, e))?;
        let v = f(&tx, &path)?; // dropping `tx` on error rolls back
        tx.commit().map_err(|e| sql_error(&path, e))?;
        Ok(v)
    }

    /// Hashes the image, then records the AMI. The image path is stored
    /// absolute so that `launch` works from any directory.
    pub fn register(&mut self, req: RegisterRequest) -> Result<Ami> {
        self.register_with_progress(req, &mut |_, _| {})
    }

    /// [`Registry::register`], calling `progress(bytes hashed, image size)`
    /// while the image is hashed.
    pub fn register_with_progress(&mut self, req: RegisterRequest, progress: &mut dyn FnMut(u64, u64)) -> Result<Ami> {
        validate_name(&req.name)?;
        validate_region(&req.region)?;
        for (k, v) in &req.tags {
            validate_tag(k, v)?;
        }
        let loader = match (req.virtualization, req.loader) {
            (VirtualizationType::Paravirtual, l) => Some(l.unwrap_or(Loader::PvgrubAws)),
            (VirtualizationType::Hvm, None) => None,
            (VirtualizationType::Hvm, Some(l)) => {
                return Err(AmiError::Invalid {
                    what: "loader",
                    value: l.name().into(),
                    why: "an HVM AMI boots its own boot loader from the MBR; --loader is for paravirtual AMIs".into(),
                });
            }
        };
        let path =
            std::path::absolute(&req.image).map_err(|source| AmiError::Io { path: req.image.clone(), source })?;
        let raw = RawImage::open(&path)?;
        if raw.size() < 512 {
            return Err(AmiError::Invalid {
                what: "image",
                value: path.display().to_string(),
                why: format!(
                    "it is {} bytes, shorter than one 512-byte sector: an AMI's root volume is a disk image",
                    raw.size()
                ),
            });
        }
        let total = raw.size();
        let (size, digest) = image::digest_with(&raw, DigestAlg::CURRENT, &mut |done| progress(done, total))?;
        let id = AmiId::derive(&digest, &req.name, &req.region, &req.owner);
        let ami = Ami {
            id,
            name: req.name,
            image: path,
            image_size: size,
            image_digest: digest,
            image_digest_alg: DigestAlg::CURRENT,
            virtualization: req.virtualization,
            root_device: req.root_device,
            loader,
            owner: req.owner,
            public: false,
            launch_permissions: Vec::new(),
            region: req.region,
            tags: req.tags.into_iter().collect(),
            created: self.clock.now_unix(),
            copied_from: None,
        };
        self.write(|tx, path| insert(tx, path, &ami))?;
        Ok(ami)
    }

    /// Every AMI, oldest first.
    pub fn list(&self) -> Result<Vec<Ami>> {
        let sql = format!("SELECT {AMI_COLUMNS} FROM amis ORDER BY created, seq");
        let rows = {
            let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
            st.query_map([], read_row)
                .and_then(|it| it.collect::<rusqlite::Result<Vec<Row>>>())
                .map_err(|e| self.err(e))?
        };
        rows.into_iter().map(|r| self.complete(r)).collect()
    }

    /// The AMI named by `id_or_name`: its id, or its name when exactly one
    /// AMI has that name (names are unique per owner and region only).
    pub fn resolve(&self, id_or_name: &str) -> Result<Ami> {
        match self.get(id_or_name) {
            Err(AmiError::UnknownAmi { .. }) => {}
            other => return other,
        }
        let mut named: Vec<Ami> = self.list()?.into_iter().filter(|a| a.name == id_or_name).collect();
        match named.len() {
            0 => Err(AmiError::UnknownAmi { id: id_or_name.to_string() }),
            1 => Ok(named.remove(0)),
            _ => Err(AmiError::AmbiguousName {
                name: id_or_name.to_string(),
                candidates: named.iter().map(|a| format!("{} in {} owned by {}", a.id, a.region, a.owner)).collect(),
            }),
        }
    }

    pub fn get(&self, id: &str) -> Result<Ami> {
        let sql = format!("SELECT {AMI_COLUMNS} FROM amis WHERE id = ?1");
        let row = self.conn.query_row(&sql, [id], read_row).optional().map_err(|e| self.err(e))?;
        match row {
            Some(r) => self.complete(r),
            None => Err(AmiError::UnknownAmi { id: id.to_string() }),
        }
    }

    fn complete(&self, r: Row) -> Result<Ami> {
        let bad = |what: &str, v: &str| self.corrupt(format!("AMI {}: bad {what} {v:?}", r.id));
        let mut perms = {
            let mut st = self
                .conn
                .prepare_cached("SELECT account FROM launch_permissions WHERE ami = ?1 ORDER BY account")
                .map_err(|e| self.err(e))?;
            st.query_map([&r.id], |row| row.get::<_, String>(0))
                .and_then(|it| it.collect::<rusqlite::Result<Vec<String>>>())
                .map_err(|e| self.err(e))?
        };
        let tags = {
            let mut st =
                self.conn.prepare_cached("SELECT key, value FROM tags WHERE ami = ?1").map_err(|e| self.err(e))?;
            st.query_map([&r.id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
                .and_then(|it| it.collect::<rusqlite::Result<BTreeMap<String, String>>>())
                .map_err(|e| self.err(e))?
        };
        let loader = match &r.loader {
            None => None,
            Some(l) => Some(Loader::from_name(l).ok_or_else(|| bad("loader", l))?),
        };
        let launch_permissions =
            perms.drain(..).map(|a| Account::parse(&a).map_err(|_| bad("account", &a))).collect::<Result<Vec<_>>>()?;
        Ok(Ami {
            id: AmiId::parse(&r.id).map_err(|_| bad("id", &r.id))?,
            virtualization: VirtualizationType::from_name(&r.virt)
                .ok_or_else(|| bad("virtualization type", &r.virt))?,
            root_device: RootDeviceType::from_name(&r.root).ok_or_else(|| bad("root device type", &r.root))?,
            owner: Account::parse(&r.owner).map_err(|_| bad("owner", &r.owner))?,
            image_size: u64::try_from(r.size).map_err(|_| bad("image size", &r.size.to_string()))?,
            copied_from: match &r.copied_from {
                None => None,
                Some(c) => Some(AmiId::parse(c).map_err(|_| bad("source AMI", c))?),
            },
            name: r.name,
            image: PathBuf::from(r.image),
            image_digest_alg: DigestAlg::from_name(&r.alg).ok_or_else(|| bad("image digest algorithm", &r.alg))?,
            image_digest: r.digest,
            loader,
            public: r.public,
            launch_permissions,
            region: r.region,
            tags,
            created: r.created,
        })
    }

    /// Removes the AMI (its permissions and tags go with it). The image
    /// file is not touched.
    pub fn deregister(&mut self, id: &str) -> Result<Ami> {
        let ami = self.get(id)?;
        self.write(|tx, path| {
            let n = tx.execute("DELETE FROM amis WHERE id = ?1", [id]).map_err(|e| sql_error(path, e))?;
            if n == 0 { Err(AmiError::UnknownAmi { id: id.to_string() }) } else { Ok(()) }
        })?;
        Ok(ami)
    }

    /// `CopyImage`: a new AMI of the same image in `region`. Launch
    /// permissions and tags are not copied (EC2 copies neither); the copy
    /// reads nothing and stores nothing new here, so it costs nothing.
    pub fn copy(&mut self, id: &str, region: &str, name: Option<&str>) -> Result<Ami> {
        validate_region(region)?;
        let src = self.get(id)?;
        let name = name.unwrap_or(&src.name).to_string();
        validate_name(&name)?;
        let copy = Ami {
            id: AmiId::derive(&src.image_digest, &name, region, &src.owner),
            name,
            region: region.to_string(),
            public: false,
            launch_permissions: Vec::new(),
            tags: BTreeMap::new(),
            created: self.clock.now_unix(),
            copied_from: Some(src.id.clone()),
            ..src
        };
        self.write(|tx, path| insert(tx, path, &copy))?;
        Ok(copy)
    }

    /// `ModifyImageAttribute --launch-permission`: add and remove explicit
    /// accounts, and set or clear the public flag, in one transaction.
    pub fn modify_permissions(
        &mut self,
        id: &str,
        add: &[Account],
        remove: &[Account],
        public: Option<bool>,
    ) -> Result<Ami> {
        let id = id.to_string();
        self.write(|tx, path| {
            let map = |e| sql_error(path, e);
            let owner: Option<String> =
                tx.query_row("SELECT owner FROM amis WHERE id = ?1", [&id], |r| r.get(0)).optional().map_err(map)?;
            let owner = owner.ok_or_else(|| AmiError::UnknownAmi { id: id.clone() })?;
            for a in add {
                if a.as_str() == owner {
                    return Err(AmiError::Invalid {
                        what: "launch permission",
                        value: a.to_string(),
                        why: "the owner can always launch its own AMI".into(),
                    });
                }
                tx.execute(
                    "INSERT OR IGNORE INTO launch_permissions (ami, account) VALUES (?1, ?2)",
                    params![id, a.as_str()],
                )
                .map_err(map)?;
            }
            for a in remove {
                tx.execute("DELETE FROM launch_permissions WHERE ami = ?1 AND account = ?2", params![id, a.as_str()])
                    .map_err(map)?;
            }
            if let Some(p) = public {
                tx.execute("UPDATE amis SET public = ?2 WHERE id = ?1", params![id, p]).map_err(map)?;
            }
            Ok(())
        })?;
        self.get(&id)
    }

    /// Everything `launch` checks before booting, in order: the AMI exists,
    /// the instance type is known, the account may launch it, the type
    /// supports its virtualization and root device types, and the image is
    /// the one registered.
    pub fn prepare_launch(&self, id: &str, instance_type: &str, account: &Account) -> Result<LaunchPlan> {
        self.prepare_launch_with_progress(id, instance_type, account, &mut |_, _| {})
    }

    /// [`Registry::prepare_launch`], calling `progress(bytes hashed, image
    /// size)` while the image is checked.
    pub fn prepare_launch_with_progress(
        &self,
        id: &str,
        instance_type: &str,
        account: &Account,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<LaunchPlan> {
        let ami = self.get(id)?;
        let it = InstanceType::parse(instance_type)?;
        let grant = ami.check_launch_permission(account)?;
        it.check(ami.virtualization, ami.root_device)?;
        let total = ami.image_size;
        let image = image::open_verified(&ami, &mut |done| progress(done, total))?;
        let notes = it.notes(ami.virtualization);
        Ok(LaunchPlan { ami, instance_type: it, account: account.clone(), grant, notes, image })
    }
}

/// rusqlite has `Connection::transaction_with_behavior`; this names the
/// behaviour once.
struct Transaction;

impl Transaction {
    fn immediate(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        conn.transaction_with_behavior(TransactionBehavior::Immediate)
    }
}

/// What opening finds in the file.
enum State {
    Empty,
    Ready,
    Version1,
    /// Our tables without our id: another writer's schema in the making
    /// (as seen by a reader outside its transaction).
    HalfMade(String),
}

/// The registry's identity, read in one snapshot.
struct Header {
    app: i32,
    version: i64,
    tables: i64,
    /// Tables that are not ours.
    foreign_tables: i64,
}

/// One statement, so one read snapshot: the id, the version and the
/// tables are never read from different commits (three separate
/// `PRAGMA` statements could see the schema made but not yet the id).
fn read_header(conn: &Connection) -> rusqlite::Result<Header> {
    let sql = format!(
        "SELECT (SELECT application_id FROM pragma_application_id()), (SELECT user_version FROM pragma_user_version()),
                (SELECT count(*) FROM sqlite_master WHERE type = 'table'),
                (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT IN ({OUR_TABLES}))"
    );
    conn.query_row(&sql, [], |r| {
        Ok(Header { app: r.get(0)?, version: r.get(1)?, tables: r.get(2)?, foreign_tables: r.get(3)? })
    })
}

fn insert(tx: &rusqlite::Transaction<'_>, path: &Path, ami: &Ami) -> Result<()> {
    let map = |e| sql_error(path, e);
    let taken: Option<String> = tx
        .query_row(
            "SELECT id FROM amis WHERE id = ?1 OR (owner = ?2 AND region = ?3 AND name = ?4)",
            params![ami.id.as_str(), ami.owner.as_str(), ami.region, ami.name],
            |r| r.get(0),
        )
        .optional()
        .map_err(map)?;
    if let Some(existing) = taken {
        return Err(AmiError::Exists {
            id: existing,
            why: format!(
                "account {} already has an AMI named {:?} in {}; AMI names are unique per account and region",
                ami.owner, ami.name, ami.region
            ),
        });
    }
    tx.execute(
        "INSERT INTO amis (id, name, image_path, image_size, image_digest, image_digest_alg, virtualization, root_device, loader, owner, public, region, created, copied_from)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            ami.id.as_str(),
            ami.name,
            ami.image.to_string_lossy(),
            i64::try_from(ami.image_size).unwrap_or(i64::MAX),
            ami.image_digest,
            ami.image_digest_alg.name(),
            ami.virtualization.name(),
            ami.root_device.name(),
            ami.loader.map(|l| l.name()),
            ami.owner.as_str(),
            ami.public,
            ami.region,
            ami.created,
            ami.copied_from.as_ref().map(|c| c.as_str()),
        ],
    )
    .map_err(map)?;
    for a in &ami.launch_permissions {
        tx.execute(
            "INSERT INTO launch_permissions (ami, account) VALUES (?1, ?2)",
            params![ami.id.as_str(), a.as_str()],
        )
        .map_err(map)?;
    }
    for (k, v) in &ami.tags {
        tx.execute("INSERT INTO tags (ami, key, value) VALUES (?1, ?2, ?3)", params![ami.id.as_str(), k, v])
            .map_err(map)?;
    }
    Ok(())
}

fn sql_error(path: &Path, e: rusqlite::Error) -> AmiError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            AmiError::Corrupt { path: path.to_path_buf(), detail: e.to_string() }
        }
        _ => AmiError::Registry { path: path.to_path_buf(), source: e },
    }
}
