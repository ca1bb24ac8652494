//! `boot-sim ami …`: the AMI registry, launch checks and storage footprint.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ami::{Account, Ami, AmiError, RegisterRequest, Registry, RootDeviceType, VirtualizationType, format_unix_time};
use boot::machine::{CostModel, CostParams, DiskProfile};
use boot_config::discover::Loader;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::output::{Exit, Out, human_size};
use crate::progress::Progress;
use crate::run_args::{MAX_SECONDS, MachineArgs, Mode, RunArgs};

#[derive(Args, Debug)]
pub struct AmiArgs {
    /// The registry file (SQLite). Default: $XDG_DATA_HOME/boot-sim/amis.db,
    /// else ~/.local/share/boot-sim/amis.db.
    #[arg(long, global = true, value_name = "PATH")]
    registry: Option<PathBuf>,
    /// JSON Lines output, one object per line with a "type" field.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AmiCommand,
}

#[derive(Subcommand, Debug)]
enum AmiCommand {
    /// Record an image as an AMI (its size and digest are kept; launch
    /// refuses the image if it changes).
    ///
    /// The digest (sha256-blocks-512k) is the SHA-256 of the SHA-256s of
    /// the image's 512 KiB blocks; the holes of a sparse image are not
    /// read. The AMI id is derived from the digest, the name, the region
    /// and the owner (the same inputs give the same id).
    ///
    /// Example: boot-sim ami register fixtures/images/pv-kernel.img --name pv-demo --virtualization-type paravirtual
    Register {
        image: PathBuf,
        /// 3–128 characters: letters, digits, spaces and ( ) [ ] . / - ' @ _
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["hvm", "paravirtual"])]
        virtualization_type: String,
        #[arg(long, default_value = "ebs", value_parser = ["ebs", "instance-store"])]
        root_device_type: String,
        /// PV only: pvgrub-aws (default), pvgrub-hd0, pvgrub-hd00 or pygrub.
        #[arg(long, value_parser = crate::parse_loader)]
        loader: Option<Loader>,
        /// The owning account (12 digits).
        #[arg(long, default_value = ami::DEFAULT_ACCOUNT)]
        owner: String,
        #[arg(long, default_value = ami::DEFAULT_REGION)]
        region: String,
        /// KEY=VALUE, repeatable.
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        /// Refused: in EC2 user-data belongs to a launch, not to an AMI
        /// (give it to `ami launch --user-data`).
        #[arg(long, value_name = "FILE")]
        user_data: Option<PathBuf>,
    },
    /// All AMIs, oldest first.
    List {
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        owner: Option<String>,
    },
    /// Every field of one AMI.
    Show {
        /// The AMI's id, or its name when no other AMI has that name.
        ami: String,
    },
    /// Remove an AMI from the registry (the image file is left alone).
    Deregister {
        /// The AMI's id, or its name when no other AMI has that name.
        ami: String,
    },
    /// A new AMI of the same image in another region. Launch permissions
    /// and tags are not copied; the copy stores nothing new (costs nothing).
    Copy {
        ami: String,
        #[arg(long)]
        region: String,
        /// Name of the copy (default: the source's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Show or change who may launch an AMI: the owner always; accounts
    /// added with --add; everyone when --public.
    Permissions {
        ami: String,
        #[arg(long, value_name = "ACCOUNT")]
        add: Vec<String>,
        #[arg(long, value_name = "ACCOUNT")]
        remove: Vec<String>,
        #[arg(long, conflicts_with = "private")]
        public: bool,
        #[arg(long)]
        private: bool,
    },
    /// Check the launch (permission, instance type vs virtualization and
    /// root device type, image unchanged), then boot it: paravirtual AMIs
    /// with their PV loader, HVM AMIs through the firmware. The root device
    /// type picks the cost model's disk (ebs-gp3 or instance-store).
    ///
    /// With --user-data: whether the user-data will run on this image, when
    /// and as whom, read as cloud-init 22.4.2 reads it, against the
    /// first-boot machinery (cloud-init, its datasources and modules, the
    /// init system's links) of the root filesystem the booted entry's
    /// root= names.
    ///
    /// Exit status 1 when the launch is refused, the image does not boot,
    /// or nothing in the given user-data will run.
    ///
    /// Example: boot-sim ami launch ami-0123456789abcdef0 --instance-type m1.small
    Launch {
        /// The AMI's id, or its name when no other AMI has that name.
        ami: String,
        /// e.g. t2.micro, m1.small, c3.large.
        #[arg(long)]
        instance_type: String,
        /// The launching account (default: the AMI owner's default account).
        #[arg(long, default_value = ami::DEFAULT_ACCOUNT)]
        account: String,
        /// PV: boot this menu entry instead of the default.
        #[arg(long)]
        entry: Option<String>,
        /// Guest memory in MiB.
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=16384))]
        memory: u64,
        /// HVM: stop after this many guest instructions.
        #[arg(long, default_value_t = boot::hvm::DEFAULT_MAX_INSTRUCTIONS)]
        max_instructions: u64,
        /// HVM: keystrokes for int 16h.
        #[arg(long, default_value = "")]
        keys: String,
        /// User-data for the instance (raw; gzip is accepted). EC2 limits
        /// it to 16 KB before base64 encoding.
        #[arg(long, value_name = "FILE", conflicts_with = "user_data_base64")]
        user_data: Option<PathBuf>,
        /// User-data given base64-encoded (as the EC2 API takes it).
        #[arg(long, value_name = "FILE")]
        user_data_base64: Option<PathBuf>,
    },
    /// Storage a chain of AMIs (made from one another, ordered by
    /// creation) takes: instance-store AMIs a full copy each; EBS-backed
    /// AMIs only the 512 KiB blocks that changed from the previous EBS AMI
    /// and are not all zero.
    Footprint {
        #[arg(required = true)]
        amis: Vec<String>,
    },
}

fn err(e: AmiError) -> Exit {
    Exit::Error(e.to_string())
}

fn open_registry(path: Option<&Path>) -> Result<Registry, Exit> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => ami::registry::default_path().ok_or_else(|| {
            Exit::Error("no registry path: set XDG_DATA_HOME or HOME, or pass --registry PATH".into())
        })?,
    };
    Registry::open(&path).map_err(err)
}

fn account(s: &str) -> Result<Account, Exit> {
    Account::parse(s).map_err(err)
}

pub fn run(out: &mut Out, args: AmiArgs) -> Result<(), Exit> {
    let mut reg = open_registry(args.registry.as_deref())?;
    let json = args.json;
    match args.command {
        AmiCommand::Register { user_data: Some(_), .. } => Err(Exit::Error(
            "ami register takes no --user-data: in EC2 user-data is given to each launch (RunInstances \
             --user-data), not stored in the AMI (RegisterImage has no user-data parameter); pass it to \
             `boot-sim ami launch AMI --instance-type TYPE --user-data FILE`"
                .into(),
        )),
        AmiCommand::Register {
            image,
            name,
            virtualization_type,
            root_device_type,
            loader,
            owner,
            region,
            tags,
            user_data: None,
        } => {
            let tags = tags
                .iter()
                .map(|t| {
                    t.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .ok_or_else(|| Exit::Error(format!("--tag {t:?}: expected KEY=VALUE")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut bar = None;
            let what = format!("hashing {}", image.display());
            let mut progress = |done: u64, total: u64| {
                bar.get_or_insert_with(|| Progress::bytes(total, &what, !json)).set(done);
            };
            let ami = reg
                .register_with_progress(
                    RegisterRequest {
                        image,
                        name,
                        virtualization: VirtualizationType::from_name(&virtualization_type)
                            .unwrap_or(VirtualizationType::Hvm),
                        root_device: RootDeviceType::from_name(&root_device_type).unwrap_or(RootDeviceType::Ebs),
                        loader,
                        owner: account(&owner)?,
                        region,
                        tags,
                    },
                    &mut progress,
                )
                .map_err(err)?;
            drop(bar);
            if json {
                out.json(&json!({"type": "registered", "ami": ami}))
            } else {
                writeln!(out, "{}", ami.id)?;
                Ok(())
            }
        }
        AmiCommand::List { region, owner } => {
            let amis: Vec<Ami> = reg
                .list()
                .map_err(err)?
                .into_iter()
                .filter(|a| region.as_ref().is_none_or(|r| a.region == *r))
                .filter(|a| owner.as_ref().is_none_or(|o| a.owner.as_str() == o))
                .collect();
            if json {
                for a in &amis {
                    out.json(&json!({"type": "ami", "ami": a}))?;
                }
                return Ok(());
            }
            writeln!(
                out,
                "{:<21}  {:<24} {:<11} {:<14} {:<14} {:<12} {:<7} created",
                "id", "name", "virt", "root", "region", "owner", "access"
            )?;
            for a in &amis {
                writeln!(
                    out,
                    "{:<21}  {:<24} {:<11} {:<14} {:<14} {:<12} {:<7} {}",
                    a.id,
                    a.name,
                    a.virtualization.name(),
                    a.root_device.name(),
                    a.region,
                    a.owner,
                    access(a),
                    format_unix_time(a.created)
                )?;
            }
            Ok(())
        }
        AmiCommand::Show { ami } => {
            let a = reg.resolve(&ami).map_err(err)?;
            if json { out.json(&json!({"type": "ami", "ami": a})) } else { show(out, &a) }
        }
        AmiCommand::Deregister { ami } => {
            let id = reg.resolve(&ami).map_err(err)?.id;
            let a = reg.deregister(id.as_str()).map_err(err)?;
            if json {
                out.json(&json!({"type": "deregistered", "id": a.id}))
            } else {
                writeln!(out, "deregistered {} ({}); the image {} was not touched", a.id, a.name, a.image.display())?;
                Ok(())
            }
        }
        AmiCommand::Copy { ami, region, name } => {
            let id = reg.resolve(&ami).map_err(err)?.id;
            let a = reg.copy(id.as_str(), &region, name.as_deref()).map_err(err)?;
            if json {
                out.json(&json!({"type": "copied", "ami": a, "cost_bytes": 0}))
            } else {
                writeln!(out, "{}", a.id)?;
                Ok(())
            }
        }
        AmiCommand::Permissions { ami, add, remove, public, private } => {
            let add = add.iter().map(|a| account(a)).collect::<Result<Vec<_>, _>>()?;
            let remove = remove.iter().map(|a| account(a)).collect::<Result<Vec<_>, _>>()?;
            let flag = if public {
                Some(true)
            } else if private {
                Some(false)
            } else {
                None
            };
            let a = reg.resolve(&ami).map_err(err)?;
            let a = if add.is_empty() && remove.is_empty() && flag.is_none() {
                Ok(a)
            } else {
                reg.modify_permissions(a.id.as_str(), &add, &remove, flag)
            }
            .map_err(err)?;
            if json {
                return out.json(&json!({
                    "type": "permissions", "id": a.id, "owner": a.owner, "public": a.public,
                    "accounts": a.launch_permissions,
                }));
            }
            writeln!(out, "{}: owner {}; {}", a.id, a.owner, permissions_text(&a))?;
            Ok(())
        }
        AmiCommand::Launch {
            ami,
            instance_type,
            account: acct,
            entry,
            memory,
            max_instructions,
            keys,
            user_data,
            user_data_base64,
        } => {
            let acct = account(&acct)?;
            let id = reg.resolve(&ami).map_err(err)?.id;
            let user_data = match (user_data, user_data_base64) {
                (Some(p), _) => Some(crate::userdata::read(&p, false)?),
                (None, Some(p)) => Some(crate::userdata::read(&p, true)?),
                (None, None) => None,
            };
            launch(
                out,
                &reg,
                json,
                id.as_str(),
                &instance_type,
                &acct,
                entry.as_deref(),
                memory,
                max_instructions,
                &keys,
                user_data.as_deref(),
            )
        }
        AmiCommand::Footprint { amis } => {
            let ids = amis
                .iter()
                .map(|a| reg.resolve(a).map(|a| a.id.to_string()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            footprint(out, &reg, json, &ids)
        }
    }
}

fn access(a: &Ami) -> &'static str {
    if a.public {
        "public"
    } else if a.launch_permissions.is_empty() {
        "private"
    } else {
        "shared"
    }
}

fn permissions_text(a: &Ami) -> String {
    let accounts = if a.launch_permissions.is_empty() {
        "no other accounts".to_string()
    } else {
        a.launch_permissions.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
    };
    if a.public { format!("public (everyone); listed: {accounts}") } else { format!("private; may launch: {accounts}") }
}

fn show(out: &mut Out, a: &Ami) -> Result<(), Exit> {
    writeln!(out, "{}  {}", a.id, a.name)?;
    writeln!(out, "  image              {} ({})", a.image.display(), human_size(a.image_size))?;
    writeln!(out, "  digest             {} {}", a.image_digest_alg.name(), a.image_digest)?;
    writeln!(out, "  virtualization     {}", a.virtualization.name())?;
    if let Some(l) = a.loader {
        writeln!(out, "  loader             {}", l.name())?;
    }
    writeln!(
        out,
        "  root device        {} (cost model disk: {:?})",
        a.root_device.name(),
        disk_profile(a.root_device)
    )?;
    writeln!(out, "  owner              {}", a.owner)?;
    writeln!(out, "  launch permission  {}", permissions_text(a))?;
    writeln!(out, "  region             {}", a.region)?;
    writeln!(out, "  created            {}", format_unix_time(a.created))?;
    if let Some(c) = &a.copied_from {
        writeln!(out, "  copied from        {c}")?;
    }
    for (k, v) in &a.tags {
        writeln!(out, "  tag                {k}={v}")?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn launch(
    out: &mut Out,
    reg: &Registry,
    json: bool,
    id: &str,
    instance_type: &str,
    acct: &Account,
    entry: Option<&str>,
    memory_mib: u64,
    max_instructions: u64,
    keys: &str,
    user_data: Option<&[u8]>,
) -> Result<(), Exit> {
    if let Some(ud) = user_data
        && ud.len() > ami::userdata::EC2_MAX_USER_DATA
    {
        let why = format!(
            "the user-data is {} bytes; EC2 limits user-data to {} bytes (16 KB) in raw form, before base64 encoding \
             (gzip it, or fetch the rest at boot with #include)",
            ud.len(),
            ami::userdata::EC2_MAX_USER_DATA
        );
        if json {
            out.json(
                &json!({"type": "refused", "ami": id, "instance_type": instance_type, "account": acct, "reason": why}),
            )?;
        } else {
            writeln!(out, "Launch refused: {why}")?;
        }
        return Err(Exit::NotBootable);
    }
    let mut bar = None;
    let mut progress = |done: u64, total: u64| {
        bar.get_or_insert_with(|| Progress::bytes(total, &format!("checking the image of {id}"), !json)).set(done);
    };
    let plan = reg.prepare_launch_with_progress(id, instance_type, acct, &mut progress);
    drop(bar);
    let plan = match plan {
        Ok(p) => p,
        Err(e) if e.is_refusal() => {
            if json {
                out.json(&json!({"type": "refused", "ami": id, "instance_type": instance_type, "account": acct, "reason": e.to_string()}))?;
            } else {
                writeln!(out, "Launch refused: {e}")?;
            }
            return Err(Exit::NotBootable);
        }
        Err(e) => return Err(err(e)),
    };
    let a = &plan.ami;
    let profile = disk_profile(a.root_device);
    let cost = CostModel::new(CostParams { disk_profile: profile, ..CostParams::default() })
        .map_err(|e| Exit::Error(e.to_string()))?;
    let mode = match a.virtualization {
        VirtualizationType::Hvm => Mode::Hvm,
        VirtualizationType::Paravirtual => Mode::Pv,
    };
    if json {
        out.json(&json!({
            "type": "launch",
            "ami": a.id,
            "name": a.name,
            "instance_type": plan.instance_type.to_string(),
            "account": plan.account,
            "grant": plan.grant,
            "virtualization": a.virtualization,
            "root_device": a.root_device,
            "disk_profile": profile,
            "loader": a.loader.map(|l| l.name()),
            "notes": plan.notes,
        }))?;
    } else {
        writeln!(
            out,
            "Launching {} ({}) on {} as {} ({}): {}, {} root (cost model disk: {profile:?}), image digest verified",
            a.id,
            a.name,
            plan.instance_type,
            plan.account,
            plan.grant.describe(),
            a.virtualization.name(),
            a.root_device.name(),
        )?;
        for n in &plan.notes {
            writeln!(out, "note: {n}")?;
        }
    }
    let run_args = RunArgs {
        image: &a.image,
        mode,
        loader: a.loader.unwrap_or(Loader::PvgrubAws),
        entry,
        memory_mib,
        json,
        dump_start_info: false,
        // As `run`'s --max-seconds default: a launch ends like a run.
        machine: MachineArgs { cost_model: None, max_instructions, max_seconds: MAX_SECONDS },
        keys,
        trace: None,
        read_mib: 16,
    };
    let image: Arc<dyn disk_image::ReadAt> = Arc::new(plan.image);
    let entry = match mode {
        Mode::Hvm => crate::run_hvm::run_entry(out, &run_args, image.clone(), cost),
        _ => crate::run::run_pv_entry(out, &run_args, image.clone(), cost),
    };
    let Some(ud) = user_data else {
        return match (mode, entry?) {
            (Mode::Hvm, _) | (_, Some(_)) => Ok(()),
            (_, None) => Err(Exit::NotBootable),
        };
    };
    let entry = entry?;
    crate::userdata::report(out, json, image, entry.as_ref(), ud)
}

fn footprint(out: &mut Out, reg: &Registry, json: bool, ids: &[String]) -> Result<(), Exit> {
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(Exit::Error(format!("{id} is listed twice")));
        }
    }
    // Registry order (creation, then registration) for the chain.
    let all = reg.list().map_err(err)?;
    for id in ids {
        if !all.iter().any(|a| a.id.as_str() == id) {
            return Err(err(AmiError::UnknownAmi { id: id.clone() }));
        }
    }
    let chain: Vec<Ami> = all.into_iter().filter(|a| ids.iter().any(|i| i == a.id.as_str())).collect();
    let f = ami::footprint(&chain).map_err(err)?;
    if json {
        for e in &f.entries {
            out.json(&json!({"type": "ami", "entry": e}))?;
        }
        return out.json(&json!({
            "type": "total",
            "block_size": f.block_size,
            "stored_bytes": f.total_stored_bytes,
            "image_bytes": f.total_image_bytes,
        }));
    }
    writeln!(
        out,
        "{:<21}  {:<20} {:<14} {:>10} {:>7} {:>8} {:>7} {:>12}  base",
        "id", "name", "root", "image", "blocks", "changed", "stored", "stored size"
    )?;
    for e in &f.entries {
        writeln!(
            out,
            "{:<21}  {:<20} {:<14} {:>10} {:>7} {:>8} {:>7} {:>12}  {}",
            e.id,
            e.name,
            e.root_device.name(),
            human_size(e.image_size),
            e.blocks,
            e.changed_blocks,
            e.stored_blocks,
            human_size(e.stored_bytes),
            match (&e.base, e.root_device) {
                (_, RootDeviceType::InstanceStore) => "full copy".to_string(),
                (Some(b), _) => format!("incremental to {b}"),
                (None, _) => "fresh volume (non-zero blocks)".to_string(),
            }
        )?;
    }
    writeln!(
        out,
        "total: {} stored ({} bytes) for {} of images; blocks of {}",
        human_size(f.total_stored_bytes),
        f.total_stored_bytes,
        human_size(f.total_image_bytes),
        human_size(f.block_size)
    )?;
    Ok(())
}

/// The cost model's medium for an AMI's root volume: an EBS volume is a
/// network block device, an instance-store volume a local disk. Here, not
/// in `ami`, so that the AMI registry does not depend on the machine.
fn disk_profile(root: RootDeviceType) -> DiskProfile {
    match root {
        RootDeviceType::Ebs => DiskProfile::EbsGp3,
        RootDeviceType::InstanceStore => DiskProfile::InstanceStore,
    }
}
