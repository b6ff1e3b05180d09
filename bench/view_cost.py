"""What views cost the store (issue 11): each view makes the daemon commit pending output, so a
chunk (with its screen snapshot) per busy pane per flush. A 200x50 pane printing `ls -la
/usr/bin | head -40` every 100 ms for 20 s, recorded by a daemon with default flags, once with no
views and once with a `search` of an absent word about every second (the most the 1 s flush
floor allows); prints chunk count, stored chunk bytes, output bytes and their ratio (chunks only,
not the whole database file). Run by hand: `python3 bench/view_cost.py`. Standard library only.
"""
import subprocess, time, os, tempfile, sqlite3, signal, json
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = next(p for p in (f"{ROOT}/target/release/tmux-audit", f"{ROOT}/target/debug/tmux-audit") if os.path.exists(p))
def run(views):
    T=tempfile.mkdtemp(prefix="vw-c.")
    env=dict(os.environ, TMUX_TMPDIR=T, XDG_DATA_HOME=T+"/xdg"); env.pop("TMUX",None)
    sock=T+"/sock"; db=T+"/a.db"
    tm=lambda *a: subprocess.run(["tmux","-S",sock,*a],env=env,capture_output=True,text=True).stdout
    tm("new-session","-d","-s","work","-x","200","-y","50")
    d=subprocess.Popen([B,"--db",db,"daemon","-S",sock],env=env,stderr=subprocess.DEVNULL,stdout=subprocess.DEVNULL)
    while tm("display","-p","-t","work","#{pane_pipe}").strip()!="1": time.sleep(0.05)
    # A window named by its running program is sealed into a new chunk at each rename: off.
    tm("set-window-option","-t","work","automatic-rename","off")
    tm("send-keys","-t","work","while true; do ls -la /usr/bin | head -40; sleep 0.1; done","Enter")
    end=time.monotonic()+20
    n=0
    while time.monotonic()<end:
        if views:
            subprocess.run([B,"--db",db,"search","zzzabsent"],env=env,capture_output=True); n+=1
        time.sleep(max(0,1-0.0))
    d.send_signal(signal.SIGTERM); d.wait(20)
    tm("kill-server")
    c=sqlite3.connect(db)
    stored=c.execute("select sum(length(data)), count(*) from chunks").fetchone()
    out=subprocess.run([B,"--db",db,"log","--kind","pane-output","--json"],env=env,capture_output=True,text=True).stdout
    raw=sum(json.loads(l).get("bytes",0) for l in out.splitlines())
    print(f"views={views} searches={n} chunks={stored[1]} stored={stored[0]} output={raw} bytes/byte={stored[0]/raw:.4f}")
    subprocess.run(["rm","-rf",T])
run(False); run(True)
