mod support;
use support::*;

#[test]
fn two_pty_clients_attach_and_detach() {
    let server = TmuxServer::start("work");
    let sid = server.first_session_id().to_owned();
    assert_eq!(server.session_id_of("work"), sid);
    let a = server.attach(&sid);
    let mut b = server.attach(&sid);
    let clients = server.clients();
    assert_eq!(clients.len(), 2, "{clients:?}");
    assert!(clients.iter().any(|c| c.0 == a.tty() && c.2 == a.pid()));
    assert!(clients.iter().any(|c| c.0 == b.tty() && c.2 == b.pid()));
    assert_eq!(
        server.display(
            a.tty(),
            "#{client_termname} #{client_width}x#{client_height}"
        ),
        "xterm 80x24"
    );
    b.send(b"\x02d");
    server.wait_gone(b.tty());
    assert!(b.wait_exit().success());
    assert!(
        b.output_text().contains("[detached (from session work)]"),
        "{}",
        b.output_text()
    );
    a.signal(nix::sys::signal::Signal::SIGKILL);
    server.wait_gone(a.tty());
    let t = now_rfc3339();
    assert_eq!(rfc3339_from_micros(micros_from_rfc3339(&t)), t);
    assert!(is_rfc3339_micros("2026-11-28T14:05:00.123456Z"));
    assert_eq!(
        micros_from_rfc3339("1970-01-02T00:00:01.000002Z"),
        86_401_000_002
    );
}

#[test]
fn nobody_attaches_readonly() {
    let server = TmuxServer::start("work");
    let sid = server.first_session_id().to_owned();
    server.open_socket_to_everyone();
    server.tmux(&["server-access", "-r", "nobody"]);
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args([
        "--reuid",
        "nobody",
        "--regid",
        "nogroup",
        "--clear-groups",
        "tmux",
        "-S",
    ])
    .arg(server.sock())
    .args(["attach-session", "-t", &sid])
    .env_remove("TMUX")
    .env("TMUX_TMPDIR", server.dir())
    .current_dir(server.dir());
    let c = PtyClient::spawn(cmd);
    server.wait_attached(&c, &sid);
    println!(
        "{}",
        server.display(
            c.tty(),
            "#{client_user} #{client_uid} #{client_readonly} #{client_flags} #{client_pid} "
        )
    );
    println!("child pid {}", c.pid());
}

#[test]
fn detach_all_typed_in_pane() {
    let server = TmuxServer::start("work");
    let sid = server.first_session_id().to_owned();
    let a = server.attach(&sid);
    let b = server.attach(&sid);
    let c = server.attach(&sid);
    server.wait_prompt(&sid);
    a.send(format!("tmux -S {} detach-client -a\r", server.sock_str()).as_bytes());
    server.wait_gone(b.tty());
    server.wait_gone(c.tty());
    println!("{:?}", server.clients());
    println!("{}", server.tmux(&["show-messages"]));
    println!("{}", server.display(&sid, "#{pane_tty}"));
}
