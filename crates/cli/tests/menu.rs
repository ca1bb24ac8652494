//! `boot-sim menu` on the committed fixtures: each PV loader's search, the
//! entry it boots and why, JSON Lines, and exit codes.

mod common;

use common::{boot_sim, stdout};

use boot_sim::image;

#[test]
fn hd0_and_hd00_pvgrub_find_different_menus() {
    let pv = image("pv-whole-disk.img");
    let hd0 = boot_sim(&["menu", &pv, "--loader", "pvgrub-hd0"]);
    assert!(hd0.status.success());
    let t = stdout(&hd0);
    assert!(t.contains("Menu (hd0)/boot/grub/menu.lst -> /boot/grub/grub.conf"), "{t}");
    assert!(t.contains("Boots entry 0 \"Amazon Linux 2018.03 (4.14.355-1.el6)\": `default 0`"), "{t}");
    assert!(t.contains("cmdline root=LABEL=/ console=hvc0 LANG=en_US.UTF-8 KEYTABLE=us"), "{t}");

    let hd00 = boot_sim(&["menu", &pv, "--loader", "pvgrub-hd00"]);
    assert_eq!(hd00.status.code(), Some(1), "no menu: the image cannot boot this way");
    let t = stdout(&hd00);
    assert!(t.contains("looked at (hd0,0)/boot/grub/menu.lst: Error 22: No such partition"), "{t}");
    assert!(t.contains("hint: --loader pygrub finds (hd0)/boot/grub/menu.lst"), "{t}");
}

#[test]
fn fallback_and_saved_default_with_json() {
    let out = boot_sim(&["menu", &image("pv-fallback.img"), "--loader", "pvgrub-hd0", "--json"]);
    assert!(out.status.success());
    let lines = boot_sim::json_lines(&out.stdout);
    let menu = lines.iter().find(|l| l["type"] == "menu").unwrap();
    assert_eq!(menu["default"]["kind"], "saved");
    assert_eq!(menu["saved_default"], 0);
    assert_eq!(menu["fallback"], serde_json::json!([2, 1]));
    assert_eq!(lines.iter().filter(|l| l["type"] == "entry").count(), 4);
    let choice = lines.iter().find(|l| l["type"] == "choice").unwrap();
    assert_eq!(choice["index"], 1);
    assert_eq!(choice["reason"], "fallback");
    assert_eq!(choice["attempts"][0]["failure"]["error"]["number"], 15);
    assert_eq!(choice["attempts"][1]["failure"]["error"]["number"], 22);
    assert_eq!(choice["kernel"]["resolved_path"], "/boot/vmlinuz-good");

    let py = boot_sim(&["menu", &image("pv-fallback.img"), "--loader", "pygrub", "--json"]);
    assert_eq!(py.status.code(), Some(1));
    let lines = boot_sim::json_lines(&py.stdout);
    let err = lines.iter().find(|l| l["type"] == "error").unwrap();
    assert!(err["message"].as_str().unwrap().contains("GRUB would boot entry 1"), "{err}");
}

#[test]
fn entry_by_index_and_title_and_all_loaders() {
    let img = image("pv-whole-disk.img");
    let by_title = boot_sim(&["menu", &img, "--entry", "Amazon Linux 2018.03 (4.14.350-1.el6)"]);
    assert!(stdout(&by_title).contains("Boots entry 1"), "{}", stdout(&by_title));
    let by_index = boot_sim(&["menu", &img, "--entry", "1", "--json"]);
    let lines = boot_sim::json_lines(&by_index.stdout);
    assert_eq!(lines.iter().find(|l| l["type"] == "choice").unwrap()["reason"], "explicit");
    let missing = boot_sim(&["menu", &img, "--entry", "7"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stdout(&missing).contains("no entry 7 (the menu has 2, numbered from 0)"));

    let all = boot_sim(&["menu", &image("hvm-mbr.img"), "--loader", "all", "--json"]);
    assert!(all.status.success(), "some loader boots it");
    let lines = boot_sim::json_lines(&all.stdout);
    let ok: Vec<_> = lines.iter().filter(|l| l["type"] == "choice").map(|l| l["loader"].as_str().unwrap()).collect();
    assert_eq!(ok, ["pygrub", "pvgrub-hd00", "pvgrub-aws"]);
    let bad = boot_sim(&["menu", &img, "--loader", "lilo"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown loader \"lilo\""));
}

#[test]
fn inspect_lists_entries_with_the_default() {
    let out = boot_sim(&["inspect", "--json", &image("pv-whole-disk.img")]);
    let lines = boot_sim::json_lines(&out.stdout);
    let entries: Vec<_> = lines.iter().filter(|l| l["type"] == "entry").collect();
    // menu.lst and grub.conf are the same menu, listed under each path.
    assert_eq!(entries.len(), 4);
    let e = entries[0];
    assert_eq!(e["config"], "/boot/grub/menu.lst");
    assert_eq!(e["kernel"], "/boot/vmlinuz-4.14.355-1.el6");
    assert_eq!(e["initrd"][0], "/boot/initramfs-4.14.355-1.el6.img");
    assert_eq!(e["default"], true);
    assert_eq!(entries[1]["default"], false);
}
