"""Firefox ESR capture harness for icesim's Firefox dialect (run as root).

Builds two network namespaces (prefix isd): isdbr (the browser: eth0 198.51.100.2/24 and
2001:db8:5::2/64, default routes via isdsrv) and isdsrv (198.51.100.1, 2001:db8:5::1 and
203.0.113.2/32 on lo; coturn there, test/secret realm test). The page is served on
127.0.0.1:8000 inside isdbr; DNS in isdbr: /etc/netns/isdbr/hosts maps stun.test to
203.0.113.2, nothing else resolves. Usage: capture.py OUTDIR SCENARIO... (see SCENARIOS).
"""
import json, os, shutil, signal, subprocess, sys, tempfile, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

# Every global name carries this prefix (ICESIM_CAPTURE_PREFIX, default isd) so captures by
# different people on one machine never collide.
P = os.environ.get("ICESIM_CAPTURE_PREFIX", "isd")
BR, SRV = f"{P}br", f"{P}srv"
PAGE = r"""<!doctype html><html><body><script>
const q = new URLSearchParams(location.search);
const cfg = JSON.parse(q.get('cfg')); const wait = +q.get('wait'); const gum = q.get('gum') === '1';
const events = []; let t0 = 0; const absent = '<<absent>>';
const F = ['candidate','sdpMid','sdpMLineIndex','foundation','component','priority','address','protocol','port','type','tcpType','relatedAddress','relatedPort','usernameFragment','relayProtocol','url'];
function cand(c) { if (!c) return null; const o = {}; for (const f of F) o[f] = (f in c) ? c[f] : absent; return o; }
function post(extra) { fetch('/result', {method: 'POST', body: JSON.stringify(Object.assign({events}, extra))}); }
(async () => {
  let notes = [];
  if (gum) { try { const s = await navigator.mediaDevices.getUserMedia({audio: true}); notes.push('gum ok'); } catch (e) { notes.push('gum failed ' + e); } }
  let pc;
  try { pc = new RTCPeerConnection(cfg); } catch (e) { post({notes: ['constructor threw ' + e.name + ': ' + e.message]}); return; }
  t0 = performance.now();
  const now = () => Math.round((performance.now() - t0) * 10) / 10;
  pc.onicegatheringstatechange = () => { events.push({kind: 'icegatheringstatechange', t: now(), state: pc.iceGatheringState}); if (pc.iceGatheringState === 'complete') setTimeout(() => post({notes, sdp: pc.localDescription.sdp}), 2000); };
  pc.onicecandidate = (e) => events.push({kind: 'icecandidate', t: now(), candidate: cand(e.candidate), eventUrl: ('url' in e) ? e.url : absent});
  pc.onicecandidateerror = (e) => events.push({kind: 'icecandidateerror', t: now(), error: {address: e.address, port: e.port, url: e.url, errorCode: e.errorCode, errorText: e.errorText, hostCandidate: ('hostCandidate' in e) ? e.hostCandidate : absent}});
  pc.createDataChannel('');
  const offer = await pc.createOffer(); await pc.setLocalDescription(offer);
  setTimeout(() => post({notes: notes.concat(['timeout']), sdp: pc.localDescription.sdp}), wait * 1000);
})();
</script></body></html>"""

TURN = "turn:203.0.113.2:3478"
SCENARIOS = {
    "host": {"cfg": {}},
    "stun_loopback": {"cfg": {"iceServers": [{"urls": "stun:127.0.0.1:3478"}]}},
    "turn_loopback": {"cfg": {"iceServers": [{"urls": "turn:127.0.0.1:3478", "username": "test", "credential": "secret"}]}},
    "stun_name": {"cfg": {"iceServers": [{"urls": "stun:stun.test:3478"}]}},
    "stun_nx": {"cfg": {"iceServers": [{"urls": "stun:nx.test:3478"}]}, "wait": 20},
    "stun_v6": {"cfg": {"iceServers": [{"urls": "stun:[2001:db8:5::1]:3478"}]}},
    "two_stun_turn": {"cfg": {"iceServers": [{"urls": ["stun:203.0.113.2:3478", "stun:198.51.100.1:3478"]}, {"urls": TURN + "?transport=udp", "username": "test", "credential": "secret"}]}},
    "turn_badcred": {"cfg": {"iceServers": [{"urls": TURN + "?transport=udp", "username": "test", "credential": "wrong"}]}, "wait": 20},
    "turn_tcp": {"cfg": {"iceServers": [{"urls": TURN + "?transport=tcp", "username": "test", "credential": "secret"}]}},
    "turn_tcp_closed": {"cfg": {"iceServers": [{"urls": "turn:203.0.113.2:3999?transport=tcp", "username": "test", "credential": "secret"}]}, "wait": 20},
    "turn_udp_dropped": {"cfg": {"iceServers": [{"urls": "turn:203.0.113.2:3998?transport=udp", "username": "test", "credential": "secret"}]}, "wait": 25, "drop": 3998},
    "turn_nocred": {"cfg": {"iceServers": [{"urls": TURN}]}},
    "stun_420": {"cfg": {"iceServers": [{"urls": "stun:203.0.113.2:3490"}]}, "responder": (3490, 420), "wait": 25},
    "stun_500": {"cfg": {"iceServers": [{"urls": "stun:203.0.113.2:3490"}]}, "responder": (3490, 500), "wait": 25},
    "two_turn": {"cfg": {"iceServers": [{"urls": [TURN + "?transport=udp", TURN + "?transport=tcp"], "username": "test", "credential": "secret"}]}},
    # For `icesim repro` (stun-closed-port, turn-dns-failure, turn-disallowed-port).
    "stun_closed": {"cfg": {"iceServers": [{"urls": "stun:203.0.113.2:3997"}]}, "wait": 20},
    "turn_nx": {"cfg": {"iceServers": [{"urls": "turn:nx.test:3478?transport=udp", "username": "test", "credential": "secret"}]}, "wait": 20},
    "turn_port22": {"cfg": {"iceServers": [{"urls": "turn:203.0.113.2:22?transport=udp", "username": "test", "credential": "secret"}]}, "wait": 20},
    "gum_stun": {"cfg": {"iceServers": [{"urls": "stun:203.0.113.2:3478"}]}, "gum": True},
    # For icesim repro (ICESIM_CAPTURE_PREFIX=isr2): "br_nft" = nft rules on the output hook of
    # the browser's namespace (eth0 only: the page and its resolver stay on lo).
    "proxy_udp_blocked_localdrop": {"cfg": {"iceServers": [{"urls": [TURN + "?transport=udp", TURN + "?transport=tcp"], "username": "test", "credential": "secret"}]},
                          "wait": 25, "br_nft": ['oifname "eth0" meta l4proto udp drop']},
    "corporate_firewall_localdrop": {"cfg": {"iceServers": [{"urls": "stun:203.0.113.2:3478"}, {"urls": TURN + "?transport=tcp", "username": "test", "credential": "secret"}]},
                           "wait": 25, "br_nft": ['oifname "eth0" meta l4proto udp drop', 'oifname "eth0" tcp dport != 443 reject with tcp reset']},
    # "srv_nft": rules on the input hook of the servers' namespace, the page's router: a
    # silent network drop / a router's reject, not a local firewall (which fails sendto at once).
    "proxy_udp_blocked": {"cfg": {"iceServers": [{"urls": [TURN + "?transport=udp", TURN + "?transport=tcp"], "username": "test", "credential": "secret"}]},
                              "wait": 25, "srv_nft": [f'iifname "{P}v1" meta l4proto udp drop']},
    "corporate_firewall": {"cfg": {"iceServers": [{"urls": "stun:203.0.113.2:3478"}, {"urls": TURN + "?transport=tcp", "username": "test", "credential": "secret"}]},
                               "wait": 25, "srv_nft": [f'iifname "{P}v1" meta l4proto udp drop', f'iifname "{P}v1" tcp dport != 443 reject with tcp reset']},
    "policy_relay_stun": {"cfg": {"iceServers": [{"urls": "stun:203.0.113.2:3478"}], "iceTransportPolicy": "relay"}, "wait": 20},
    "pref_proxy_only": {"cfg": {"iceServers": [{"urls": "stun:203.0.113.2:3478"}]}, "wait": 20, "prefs": {"media.peerconnection.ice.proxy_only": True}},
    "pref_relay_only": {"cfg": {"iceServers": [{"urls": "stun:203.0.113.2:3478"}]}, "wait": 20, "prefs": {"media.peerconnection.ice.relay_only": True}},
    "pref_pc_disabled": {"cfg": {"iceServers": [{"urls": "stun:203.0.113.2:3478"}]}, "prefs": {"media.peerconnection.enabled": False}},
    "nomdns_stun": {"cfg": {"iceServers": [{"urls": "stun:203.0.113.2:3478"}]}, "prefs": {"media.peerconnection.ice.obfuscate_host_addresses": False}},
}


def sh(cmd, check=True):
    return subprocess.run(cmd, shell=True, check=check, capture_output=True, text=True)


def setup():
    teardown()
    for ns in (BR, SRV):
        sh(f"ip netns add {ns}")
        sh(f"ip -n {ns} link set lo up")
    sh(f"ip link add {P}v0 netns {BR} type veth peer name {P}v1 netns {SRV}")
    sh(f"ip -n {BR} link set {P}v0 name eth0")
    sh(f"ip -n {BR} addr add 198.51.100.2/24 dev eth0; ip -n {BR} addr add 2001:db8:5::2/64 dev eth0 nodad")
    sh(f"ip -n {SRV} addr add 198.51.100.1/24 dev {P}v1; ip -n {SRV} addr add 2001:db8:5::1/64 dev {P}v1 nodad")
    sh(f"ip -n {SRV} addr add 203.0.113.2/32 dev lo")
    sh(f"ip -n {BR} link set eth0 up; ip -n {SRV} link set {P}v1 up")
    sh(f"ip -n {BR} route add default via 198.51.100.1; ip -n {BR} -6 route add default via 2001:db8:5::1")
    os.makedirs(f"/etc/netns/{BR}", exist_ok=True)
    open(f"/etc/netns/{BR}/resolv.conf", "w").write("nameserver 127.0.0.1\n")
    open(f"/etc/netns/{BR}/hosts", "w").write("127.0.0.1 localhost\n203.0.113.2 stun.test\n")
    time.sleep(1.5)


def teardown():
    for ns in (BR, SRV):
        sh(f"ip netns pids {ns} 2>/dev/null | xargs -r kill -9", check=False)
        sh(f"ip netns del {ns}", check=False)
    shutil.rmtree(f"/etc/netns/{BR}", ignore_errors=True)


def start_coturn(workdir):
    conf = os.path.join(workdir, f"{P}-turnserver.conf")
    open(conf, "w").write(
        "listening-ip=203.0.113.2\nlistening-ip=198.51.100.1\nlistening-ip=2001:db8:5::1\n"
        "listening-port=3478\nrelay-ip=203.0.113.2\nmin-port=50000\nmax-port=50100\n"
        "lt-cred-mech\nuser=test:secret\nrealm=test\nno-tls\nno-dtls\nno-cli\nno-stdout-log\n"
        f"log-file={workdir}/{P}-turn.log\npidfile={workdir}/{P}-turn.pid\nsimple-log\nallow-loopback-peers\n")
    return subprocess.Popen(["ip", "netns", "exec", SRV, "turnserver", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(name, sc, outdir):
    result = {}
    done = threading.Event()

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Type", "text/html"); self.end_headers()
            self.wfile.write(PAGE.encode())
        def do_POST(self):
            n = int(self.headers["Content-Length"]); result.update(json.loads(self.rfile.read(n)))
            self.send_response(200); self.end_headers(); done.set()

    # The HTTP server must listen inside isdbr: serve from a child process in the namespace.
    return result, done, H


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    if sys.argv[2:] == ["--serve"]:
        return
    names = sys.argv[2:] or list(SCENARIOS)
    setup()
    work = tempfile.mkdtemp(prefix=f"{P}-cap-")
    turn = start_coturn(work)
    time.sleep(1)
    try:
        for name in names:
            sc = SCENARIOS[name]
            wait = sc.get("wait", 15)
            if sc.get("drop"):
                sh(f"ip netns exec {SRV} nft add table inet {P}drop; ip netns exec {SRV} nft 'add chain inet {P}drop input {{ type filter hook input priority 0; }}'; ip netns exec {SRV} nft add rule inet {P}drop input udp dport {sc['drop']} drop")
            for rule in sc.get("br_nft", ()):
                sh(f"ip netns exec {BR} nft add table inet {P}fw; ip netns exec {BR} nft 'add chain inet {P}fw output {{ type filter hook output priority 0; }}'")
                sh(f"ip netns exec {BR} nft add rule inet {P}fw output {rule}")
            for rule in sc.get("srv_nft", ()):
                sh(f"ip netns exec {SRV} nft add table inet {P}fw; ip netns exec {SRV} nft 'add chain inet {P}fw input {{ type filter hook input priority 0; }}'")
                sh(f"ip netns exec {SRV} nft add rule inet {P}fw input {rule}")
            responder = None
            if sc.get("responder"):
                rport, rcode = sc["responder"]
                responder = subprocess.Popen(["ip", "netns", "exec", SRV, sys.executable, __file__, "--responder", str(rport), str(rcode)])
                time.sleep(0.5)
            prof = tempfile.mkdtemp(prefix=f"{P}-ffprof-")
            prefs = {"media.navigator.streams.fake": True, "media.navigator.permission.disabled": True,
                     "browser.shell.checkDefaultBrowser": False, "datareporting.policy.dataSubmissionEnabled": False}
            prefs.update(sc.get("prefs", {}))
            with open(os.path.join(prof, "user.js"), "w") as f:
                for k, v in prefs.items():
                    f.write(f'user_pref("{k}", {json.dumps(v)});\n')
            out = os.path.join(outdir, f"{name}.json")
            url = "http://127.0.0.1:8000/page.html?" + urllib.parse.urlencode(
                {"cfg": json.dumps(sc["cfg"]), "wait": wait, "gum": "1" if sc.get("gum") else "0"})
            server = subprocess.Popen(["ip", "netns", "exec", BR, sys.executable, __file__, "--server", out])
            time.sleep(0.7)
            ff = subprocess.Popen(["ip", "netns", "exec", BR, "firefox-esr", "--headless", "--new-instance", "--no-remote",
                                   "--profile", prof, url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                server.wait(timeout=wait + 40)
            except subprocess.TimeoutExpired:
                server.kill()
            os.killpg(ff.pid, signal.SIGKILL)
            ff.wait()
            shutil.rmtree(prof, ignore_errors=True)
            if responder is not None:
                responder.kill()
                responder.wait()
            if sc.get("drop"):
                sh(f"ip netns exec {SRV} nft delete table inet {P}drop", check=False)
            if sc.get("br_nft"):
                sh(f"ip netns exec {BR} nft delete table inet {P}fw", check=False)
            if sc.get("srv_nft"):
                sh(f"ip netns exec {SRV} nft delete table inet {P}fw", check=False)
            if os.path.exists(out):
                data = json.load(open(out))
                data["meta"] = {"scenario": name, **sc, "browser": sh("firefox-esr --version").stdout.strip(),
                                "network": f"{BR} eth0 198.51.100.2/24 2001:db8:5::2/64; coturn on 203.0.113.2, 198.51.100.1, [2001:db8:5::1] :3478"}
                json.dump(data, open(out, "w"), indent=1)
                print(name, "ok", len(data.get("events", [])), "events", flush=True)
            else:
                print(name, "NO RESULT", flush=True)
    finally:
        turn.terminate()
        turn.wait()
        teardown()
        shutil.rmtree(work, ignore_errors=True)


def serve(out):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Type", "text/html"); self.end_headers()
            self.wfile.write(PAGE.encode())
        def do_POST(self):
            n = int(self.headers["Content-Length"])
            data = json.loads(self.rfile.read(n))
            json.dump(data, open(out, "w"))
            self.send_response(200); self.end_headers()
            threading.Thread(target=httpd.shutdown).start()
    httpd = HTTPServer(("127.0.0.1", 8000), H)
    httpd.serve_forever()


def respond(port: int, code: int) -> None:
    """A STUN server answering every Binding request with error `code` (RFC 5389 ERROR-CODE)."""
    import socket, struct
    reasons = {420: b"Unknown Attribute", 500: b"Server Error", 400: b"Bad Request"}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("203.0.113.2", port))
    log = open(f"/tmp/isd-cap/responder-{port}.log", "a")
    while True:
        data, addr = sock.recvfrom(2048)
        if len(data) < 20 or data[0:2] != b"\x00\x01":
            continue
        log.write(f"{time.time():.3f} {addr}\n"); log.flush()
        reason = reasons.get(code, b"Error")
        reason += b" " * ((4 - len(reason) % 4) % 4)
        value = struct.pack("!HBB", 0, code // 100, code % 100) + reason
        attr = struct.pack("!HH", 0x0009, len(value)) + value
        sock.sendto(struct.pack("!HH", 0x0111, len(attr)) + data[4:20] + attr, addr)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--responder":
        respond(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--server":
        serve(sys.argv[2])
    else:
        main()
