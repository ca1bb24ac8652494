//! GRUB 2 `grub.cfg`: lexed, parsed and *evaluated* the way GRUB's normal
//! mode runs it, producing the menu GRUB would show and what each entry
//! would boot.
//!
//! Sources (`rhboot/grub2`, which keeps upstream's script engine; where
//! rhboot differs from upstream it is said):
//! - `grub-core/script/yylex.l`, `parser.y`, `lexer.c`: words, quoting,
//!   blocks (see the `script` submodule, `grub2/script.rs`).
//! - `grub-core/script/execute.c` `grub_script_arglist_to_argv`: unquoted
//!   `$var` values are split at blanks, quoted ones are not; a word that
//!   expands to nothing is no argument, `""` is an empty one.
//!   `grub_script_execute_cmdline`: a builtin command, else a `function`,
//!   else `name=value` is an assignment; the status goes to `$?`, which
//!   `if` tests. `grub_env_special`: `$1`…, `$#`, `$*`, `$@` read the
//!   arguments of the function or menu entry.
//! - `grub-core/normal/main.c` `read_config_file`: `config_file` and
//!   `config_directory` are set (and exported) while a file is read;
//!   `features[]` are set to `y` and exported, as are `grub_cpu` and
//!   `grub_platform`; `kern/main.c` exports `root` and `prefix`.
//! - `grub-core/commands/menuentry.c`: `menuentry`/`submenu` options
//!   `--class`, `--users`, `--hotkey`, `--source`, `--id`,
//!   `--unrestricted`; the id is the title when no `--id` is given; the
//!   title and further arguments become `$1`, `$2`… of the body.
//! - `grub-core/normal/menu.c` `grub_menu_execute_entry`: an entry's body
//!   runs when the entry is booted, in the environment the whole config
//!   left (so a `set root` after the entry still counts); a submenu opens
//!   a new environment context (only exported variables carry over,
//!   `normal/context.c`) and a new menu, and receives the part of
//!   `default` after the first `>`. `get_entry_number`/`menuentry_eq`:
//!   see [`resolve_default`]. `grub_menu_get_timeout`, `get_timeout_style`.
//! - `grub-core/commands/configfile.c`: `source` reads a file into the
//!   current context and menu; `configfile` opens a new context and a new
//!   menu and shows it (the rest of the outer file runs only when that
//!   menu is left).
//! - `grub-core/commands/search_wrap.c`, `search.c`: `search` options,
//!   `--set` without a name sets `root`, hints by platform.
//! - `grub-core/commands/loadenv.c`: `load_env [-f FILE] [--skip-sig]
//!   [NAME…]` reads `$prefix/grubenv` by default.
//! - `grub-core/commands/test.c` `test_parse`: the `[`/`test` grammar.
//! - `grub-core/commands/blscfg.c` (rhboot): see [`crate::bls`].
//! - `grub-core/loader/i386/linux.c` + `lib/cmdline.c`: the command line
//!   passed to Linux is `BOOT_IMAGE=` followed by the `linux` arguments,
//!   kernel path included ([`boot_cmdline`]).
//! - `util/grub.d/00_header.in`, `10_linux.in`: the generated configs this
//!   evaluator is tested with.
//!
//! What is evaluated: variables and all expansions, `set`/`unset`/
//! `export`/assignments, `if`/`elif`/`else` with `[`/`test`/`true`/
//! `false`/`!`, `for`, bounded `while`/`until`, functions (defined ones
//! run: `load_video`, `savedefault`, Ubuntu's `recordfail`/`gfxmode`),
//! `setparams`/`shift`/`return`/`break`/`continue`/`eval`, `menuentry`,
//! `submenu`, `source`, `configfile`, `load_env`, `search`, `blscfg`,
//! `loadfont` (as a file test), and in entries `linux*`/`initrd*`/
//! `chainloader`/`multiboot*`/`module*`. File and device questions go to a
//! [`Grub2Context`]. What cannot be answered (no disk behind the context,
//! commands whose result depends on hardware such as `cpuid`, `smbios`,
//! `probe`) is a diagnostic with the line, and the condition counts as
//! false — GRUB's answer when it cannot read a file. `save_env` writes
//! nothing (boot-sim never writes an image); the names are recorded in
//! [`Evaluation::saved_env`]. Every loop and recursion is capped.
//!
//! Files, by job: `grub2/script.rs` lexes and parses, `grub2/context.rs`
//! is what the evaluator asks about disks ([`Grub2Context`]),
//! `grub2/interp.rs` evaluates (environments, control flow, menus),
//! `grub2/interp/builtins.rs` runs the commands, `grub2/default.rs` turns
//! the menu into what boots (default path, Linux command line).

mod context;
mod default;
mod interp;
mod script;

pub use crate::grub_num::strtoul;
pub use context::{Grub2Context, Lookup, MemContext, NoContext, NodeType, SearchKind};
pub use default::{boot_cmdline, default_entry, loader_cmdline, resolve_default};
pub use interp::{Evaluation, bls_menu, evaluate, parse};
pub use script::{MAX_NESTING, MAX_TOKENS, MAX_WORD};

/// Deepest `submenu` nesting evaluated.
pub const MAX_SUBMENU_DEPTH: usize = 16;
/// Deepest `source`/`configfile` nesting (GRUB itself recurses until its
/// heap runs out).
pub const MAX_INCLUDE_DEPTH: usize = 8;
/// Deepest function/`eval` call nesting (`MAX_RECURSION_DEPTH` in
/// `execute.c`).
pub const MAX_CALL_DEPTH: usize = 64;
/// Most commands executed for one config, entries included.
pub const MAX_STEPS: usize = 200_000;
/// Most menu items kept per menu.
pub const MAX_ITEMS: usize = 4096;
/// Most arguments of one command after expansion.
pub const MAX_ARGS: usize = 4096;
/// Longest variable value kept.
pub const MAX_VALUE: usize = 64 * 1024;
/// Most iterations of one `for`/`while`/`until` loop.
pub const MAX_LOOP: usize = 1024;
/// Most BLS snippets read by one `blscfg`.
pub const MAX_BLS_FILES: usize = 1024;
/// Most bytes produced by expansion over one evaluation (a loop doubling
/// a variable would otherwise copy gigabytes within [`MAX_STEPS`]).
pub const MAX_EXPANDED_BYTES: usize = 32 << 20;
/// Deepest nesting of command lists while executing (blocks inside
/// functions inside submenus…), so the evaluator's own stack is bounded.
pub const MAX_EXEC_DEPTH: usize = 256;

/// `features[]` in `normal/main.c`: set to `y` and exported.
const FEATURES: &[&str] = &[
    "feature_chainloader_bpb",
    "feature_ntldr",
    "feature_platform_search_hint",
    "feature_default_font_path",
    "feature_all_video_module",
    "feature_menuentry_id",
    "feature_menuentry_options",
    "feature_200_final",
    "feature_nativedisk_cmd",
    "feature_timeout_style",
    "feature_search_cryptodisk_only",
];

/// Commands that change nothing a boot choice depends on.
const NO_EFFECT: &[&str] = &[
    "insmod",
    "rmmod",
    "echo",
    "terminal_output",
    "terminal_input",
    "terminal",
    "serial",
    "terminfo",
    "background_image",
    "background_color",
    "clear",
    "play",
    "sleep",
    "lsmod",
    "ls",
    "cat",
    "help",
    "videoinfo",
    "vbeinfo",
    "lspci",
    "date",
    "password",
    "password_pbkdf2",
    "boot",
    "devicetree",
    "set_gfxpayload",
    "cutmem",
    "badram",
    "font",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// What a boot loader model replays: the config's own commands and each
    /// entry's, expanded, in order, functions' bodies included.
    #[test]
    fn records_config_and_entry_commands() {
        let cfg = b"insmod ext2\nset v=6.1\nfunction f { echo in-f; }\n\
                    menuentry A { echo 'Loading Linux' $v ...; f; linux /vmlinuz-$v ro; initrd /i }\n\
                    submenu S { menuentry B { echo b; } }\n";
        let ev = evaluate(cfg, "/boot/grub/grub.cfg", &MemContext::new().var("root", "hd0,msdos1"));
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(ev.config_commands[0], s(&["insmod", "ext2"]));
        assert!(!ev.config_commands.iter().any(|c| c[0] == "echo"), "{:?}", ev.config_commands);
        assert_eq!(ev.entry_commands.len(), ev.menu.entries.len());
        assert_eq!(
            ev.entry_commands[0],
            vec![
                s(&["echo", "Loading Linux", "6.1", "..."]),
                s(&["f"]),
                s(&["echo", "in-f"]),
                s(&["linux", "/vmlinuz-6.1", "ro"]),
                s(&["initrd", "/i"]),
            ]
        );
        assert_eq!(ev.entry_commands[1], vec![s(&["echo", "b"])]);
    }
}
