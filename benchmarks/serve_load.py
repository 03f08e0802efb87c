#!/usr/bin/env python3
"""Load test of `distilcl serve` on loopback (issue 12): throughput and latency at several
concurrencies, the dynamic batcher's mean batch size, overload shedding and SIGTERM under load.
Python standard library plus wrk (Debian's package; installed with apt-get when missing).

Texts: the odd-id movie-review snippets of data/movieReviewSnippets_GroundTruth.txt (5,303; one
text per request, {"inputs": text}). Model: --model (default models/minilm-sentiment, the
all-MiniLM-L6-v2 classifier scripts/sentiment.sh fine-tunes) on --route (default /predict; use
--model models/all-MiniLM-L6-v2 --route /embed for the plain encoder). Device: the CPU path.

Phases, one after another, each against a fresh `distilcl serve --port 0`:
  baseline   `distilcl classify` (or `embed` for /embed) over the same texts, 3 times the texts in
             one run so start-up is amortised; median of --repeats runs -> texts/s.
  load       wrk -c C for each C of --concurrency (default 1,8,32,128), --duration seconds each
             (default 20) after a 3 s warm-up: requests/s, p50/p99 latency (wrk --latency), non-2xx
             responses and socket errors (both must be 0), and the mean batch size (requests per
             batch the batcher cut, from the Δ of distilcl_batch_requests_sum/_count in /metrics).
  overload   --max-concurrent-requests 4, wrk -c 64 for 10 s: every status must be 200 or 429
             (counted per status in wrk's Lua), no socket errors; then -c 4 (the limit) for 5 s: only 200.
  sigterm    32 client threads on keep-alive connections post in a loop; after 5 s the server gets
             SIGTERM. It must exit 0, and the 200 responses clients received must equal the
             requests the server says it answered (its last stderr line): every accepted request
             answered. Requests that never reached it (connection refused or closed while idle)
             are counted apart.

Targets: throughput at concurrency 32 >= 4x concurrency 1's, and >= 80% of the batch command's.

Usage:
  swift build -c release && python3 benchmarks/serve_load.py [--bin .build/release/distilcl]
      [--model DIR] [--route /predict] [--concurrency 1,8,32,128] [--duration 20] [--repeats 3]
      [--phases baseline,load,overload,sigterm] [--out-json FILE]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNIPPETS = os.path.join(ROOT, "data", "movieReviewSnippets_GroundTruth.txt")


def cpu_name():
    model, family, number = "unknown CPU", "?", "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name":
                model = value
            elif key == "cpu family":
                family = value
            elif key == "model":
                number = value
            elif not line.strip():
                break
    return f"{model} (family {family} model {number}), {os.cpu_count()} cores"


def odd_texts():
    texts = []
    with open(SNIPPETS, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) >= 3 and parts[0].isdigit() and int(parts[0]) % 2 == 1 and parts[2].strip():
                texts.append(parts[2].strip())
    return texts


class Server:
    """`distilcl serve --port 0 ARGS`, its port read from stderr; SIGTERM on stop."""

    def __init__(self, binary, args):
        self.proc = subprocess.Popen([binary, "serve", "--port", "0", "--device", "cpu"] + args,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.lines = []
        self.port = None
        while self.port is None:
            line = self.proc.stderr.readline()
            if not line:
                raise SystemExit("distilcl serve exited:\n" + "".join(self.lines))
            self.lines.append(line)
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 300
        while True:
            try:
                if self.get("/ready")[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise SystemExit("distilcl serve did not get ready:\n" + "".join(self.lines))
            time.sleep(0.05)

    def _drain(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body.decode()

    def metric(self, name):
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout=120)
        self.reader.join(timeout=5)
        return status


LUA = r"""
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
counter = 0
local codes = {200, 400, 404, 413, 422, 429, 499, 500, 503}
local threads = {}
function setup(thread)
  thread:set("offset", #threads * 997)
  table.insert(threads, thread)
end
function init(args)
  counter = offset or 0
  -- per-status counts in plain globals: thread:get copies numbers, not tables
  for _, c in ipairs(codes) do _G["st_" .. c] = 0 end
  st_other = 0
end
function request()
  counter = counter + 1
  return wrk.format("POST", os.getenv("ROUTE"), {["Content-Type"] = "application/json"},
                    bodies[(counter % #bodies) + 1])
end
function response(status, headers, body)
  local name = "st_" .. status
  if _G[name] ~= nil then _G[name] = _G[name] + 1 else st_other = st_other + 1 end
end
function done(summary, latency, requests)
  local parts = {}
  for _, c in ipairs(codes) do
    local n = 0
    for _, t in ipairs(threads) do n = n + (t:get("st_" .. c) or 0) end
    if n > 0 then parts[#parts + 1] = string.format('"%d": %d', c, n) end
  end
  local other = 0
  for _, t in ipairs(threads) do other = other + (t:get("st_other") or 0) end
  if other > 0 then parts[#parts + 1] = string.format('"other": %d', other) end
  io.write("STATUSES {" .. table.concat(parts, ", ") .. "}\n")
  io.write(string.format("LATENCY %f %f %f\n", latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def wrk(port, route, bodies, lua, connections, seconds):
    env = dict(os.environ, BODIES=bodies, ROUTE=route)
    threads = min(2, connections)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "30s",
                          "-s", lua, f"http://127.0.0.1:{port}"], capture_output=True, text=True, env=env, check=True).stdout
    result = {"connections": connections, "seconds": seconds}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["requests_per_s"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"STATUSES (\{.*\})", out)
    result["statuses"] = json.loads(m.group(1)) if m else {}
    m = re.search(r"LATENCY ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if m:   # wrk reports microseconds
        result["p50_ms"], result["p99_ms"], result["mean_ms"] = (float(x) / 1000 for x in m.groups())
    result["non_2xx"] = sum(n for code, n in result["statuses"].items() if not code.startswith("2"))
    return result


def baseline(binary, model, route, texts, repeats, workdir):
    path = os.path.join(workdir, "texts.txt")
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(3):
            f.write("\n".join(texts) + "\n")
    command = "classify" if route == "/predict" else "embed"
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([binary, command, "--model", model, "--device", "cpu", "--input", path,
                        "--output", os.path.join(workdir, "out.jsonl")], check=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"command": f"distilcl {command} --device cpu", "texts": 3 * len(texts), "seconds": seconds,
            "texts_per_s": 3 * len(texts) / seconds}


def sigterm_phase(binary, args, route, texts, clients=32, seconds=5):
    server = Server(binary, args)
    stop = threading.Event()
    counts = {"ok": 0, "other_status": 0, "never_reached": 0, "errors": []}
    lock = threading.Lock()

    def client(k):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        i = k
        while True:
            body = json.dumps({"inputs": texts[i % len(texts)]})
            i += clients
            try:
                conn.request("POST", route, body=body, headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
            except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError,
                    http.client.RemoteDisconnected) as e:
                # The server closed this connection while it was idle (or refused a new one):
                # the request never reached it. It counts apart; the check below is server-side.
                with lock:
                    counts["never_reached"] += 1
                if stop.is_set():
                    return
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                continue
            with lock:
                counts["ok" if r.status == 200 else "other_status"] += 1
            if stop.is_set() and r.getheader("Connection", "").lower() == "close":
                return

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    status = server.stop()
    for t in threads:
        t.join(timeout=60)
    last = [l for l in server.lines if "answered" in l]
    m = re.search(r"answered (\d+)", last[-1]) if last else None
    answered = int(m.group(1)) if m else -1
    return {"clients": clients, "seconds_before_sigterm": seconds, "exit_status": status,
            "client_200": counts["ok"], "client_other_status": counts["other_status"],
            "never_reached": counts["never_reached"], "server_answered": answered,
            "server_line": last[-1].strip() if last else "",
            "ok": status == 0 and counts["other_status"] == 0 and counts["ok"] == answered}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.path.join(ROOT, ".build/release/distilcl"))
    p.add_argument("--model", default="models/minilm-sentiment")
    p.add_argument("--route", default="/predict")
    p.add_argument("--concurrency", default="1,8,32,128")
    p.add_argument("--duration", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--phases", default="baseline,load,overload,sigterm")
    p.add_argument("--out-json")
    a = p.parse_args()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
    for path in (a.bin, os.path.join(ROOT, a.model, "config.json"), SNIPPETS):
        if not os.path.exists(path):
            raise SystemExit(f"missing {path} (swift build -c release; scripts/fetch-models.sh; scripts/sentiment.sh)")
    phases = a.phases.split(",")
    texts = odd_texts()
    work = tempfile.mkdtemp(prefix="serve-load-")
    bodies, lua = os.path.join(work, "bodies.jsonl"), os.path.join(work, "load.lua")
    with open(bodies, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"inputs": t}) + "\n")
    with open(lua, "w") as f:
        f.write(LUA)
    report = {"cpu": cpu_name(), "model": a.model, "route": a.route, "texts": len(texts)}
    print(f"# {report['cpu']}; {a.model} {a.route}; {len(texts)} odd-id movie snippets, one per request", flush=True)

    if "baseline" in phases:
        report["baseline"] = baseline(a.bin, a.model, a.route, texts, a.repeats, work)
        print(f"baseline  {report['baseline']['command']}: {report['baseline']['texts_per_s']:.1f} texts/s", flush=True)

    if "load" in phases:
        server = Server(a.bin, ["--model", a.model])
        wrk(server.port, a.route, bodies, lua, 8, 3)   # warm-up
        report["load"] = []
        for c in (int(x) for x in a.concurrency.split(",")):
            s0, n0 = server.metric("distilcl_batch_requests_sum"), server.metric("distilcl_batch_requests_count")
            r = wrk(server.port, a.route, bodies, lua, c, a.duration)
            s1, n1 = server.metric("distilcl_batch_requests_sum"), server.metric("distilcl_batch_requests_count")
            r["mean_batch"] = (s1 - s0) / max(n1 - n0, 1)
            report["load"].append(r)
            print(f"load      c={c:<4d} {r['requests_per_s']:8.1f} req/s  p50 {r.get('p50_ms', 0):7.2f} ms  "
                  f"p99 {r.get('p99_ms', 0):7.2f} ms  mean batch {r['mean_batch']:5.1f}  "
                  f"non-2xx {r['non_2xx']}  socket errors {r['socket_errors']}", flush=True)
        report["load_exit_status"] = server.stop()
        by_c = {r["connections"]: r["requests_per_s"] for r in report["load"]}
        if 1 in by_c and 32 in by_c:
            report["c32_over_c1"] = by_c[32] / by_c[1]
            print(f"target    c=32 / c=1 = {report['c32_over_c1']:.2f}x (>= 4)")
        if "baseline" in report and 32 in by_c:
            report["c32_over_batch_command"] = by_c[32] / report["baseline"]["texts_per_s"]
            print(f"target    c=32 / batch command = {100 * report['c32_over_batch_command']:.0f}% (>= 80%)")

    if "overload" in phases:
        server = Server(a.bin, ["--model", a.model, "--max-concurrent-requests", "4"])
        over = wrk(server.port, a.route, bodies, lua, 64, 10)
        while server.metric("distilcl_in_flight_requests") > 0:   # wrk's last requests finish
            time.sleep(0.05)
        after = wrk(server.port, a.route, bodies, lua, 4, 5)   # within the limit: every request served
        status = server.stop()
        ok = (set(over["statuses"]) <= {"200", "429"} and over["socket_errors"] == 0
              and set(after["statuses"]) == {"200"} and after["socket_errors"] == 0 and status == 0)
        report["overload"] = {"limit": 4, "during": over, "after": after, "exit_status": status, "ok": ok}
        print(f"overload  limit 4, c=64: statuses {over['statuses']}, socket errors {over['socket_errors']}; "
              f"then c=4: statuses {after['statuses']} ({after['requests_per_s']:.1f} req/s); "
              f"exit {status}: {'ok' if ok else 'FAILED'}", flush=True)

    if "sigterm" in phases:
        report["sigterm"] = r = sigterm_phase(a.bin, ["--model", a.model], a.route, texts)
        print(f"sigterm   {r['clients']} clients: exit {r['exit_status']}; clients got {r['client_200']} x 200, "
              f"{r['client_other_status']} other; server answered {r['server_answered']}; "
              f"{r['never_reached']} never reached it: {'ok' if r['ok'] else 'FAILED'}", flush=True)

    if a.out_json:
        with open(a.out_json, "w") as f:
            json.dump(report, f, indent=2)
    shutil.rmtree(work, ignore_errors=True)
    failed = [k for k in ("overload", "sigterm") if k in report and not report[k]["ok"]]
    failed += [f"load c={r['connections']}" for r in report.get("load", []) if r["non_2xx"] or r["socket_errors"]]
    if failed:
        raise SystemExit("FAILED: " + ", ".join(failed))


if __name__ == "__main__":
    main()
