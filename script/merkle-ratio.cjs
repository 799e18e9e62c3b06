// The JavaScript half of script/merkle-ratio.sh. For each report written by the Rust example merkle_ratio
// (crates/permissions/examples/merkle_ratio.rs): times @openzeppelin/merkle-tree's
// StandardMerkleTree.of(values, [leafEncoding]) on the same values, checks that its root is the Rust root, and
// prints a table of sizes, times and the ratios JS / Rust.
//   node --expose-gc script/merkle-ratio.cjs REPORT.json...
// Each N gets one untimed warm-up on its first 500 values (JIT), then up to `repeat` timed runs (the Rust side's
// count), stopping early once JS_BUDGET seconds (default 30) have gone by: one run of 100,000 leaves takes minutes.
// Wall clock is the best run; CPU time (process.cpuUsage: this process, GC threads included) the best run too.
const fs = require("fs");
const os = require("os");
const path = require("path");
const modules = path.join(__dirname, "..", "node_modules", "@openzeppelin", "merkle-tree");
const { StandardMerkleTree } = require(modules);
const { version } = require(path.join(modules, "package.json"));
const budget = Number(process.env.JS_BUDGET ?? 30);

const rows = [];
for (const file of process.argv.slice(2)) {
  const report = JSON.parse(fs.readFileSync(file, "utf8"));
  const { n, leafEncoding, values, repeat } = report;
  StandardMerkleTree.of(values.slice(0, 500), [leafEncoding]); // warm-up
  let [wall, cpu, runs, spent, root] = [Infinity, Infinity, 0, 0, ""];
  while (runs < Math.max(1, repeat) && (runs === 0 || spent < budget)) {
    if (global.gc) global.gc(); // start each run without the previous one's garbage
    const [start, startCpu] = [process.hrtime.bigint(), process.cpuUsage()];
    root = StandardMerkleTree.of(values, [leafEncoding]).root;
    const used = process.cpuUsage(startCpu);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    [wall, cpu, runs, spent] = [Math.min(wall, seconds), Math.min(cpu, (used.user + used.system) / 1e6), runs + 1,
      spent + seconds];
  }
  if (root !== report.root) console.error(`${n} leaves: roots differ: rust ${report.root}, js ${root}`);
  console.error(`js: ${n} leaves: wall ${wall.toFixed(3)} s, cpu ${cpu.toFixed(3)} s (best of ${runs}), root ${root}`);
  rows.push({ n, mb: fs.statSync(file).size / 1e6, report, wall, cpu, runs, same: root === report.root });
}

const pad = (s, w) => String(s).padStart(w);
const ratio = (js, rust) => pad(`${(js / rust).toFixed(0)}×`, 7);
console.log(`\n@openzeppelin/merkle-tree ${version} StandardMerkleTree.of (node ${process.version}) vs keyscope-permissions ` +
  `PermissionTree::from_permissions (1 thread), same values; wall: best run, CPU: best JS run / mean Rust run; ` +
  `load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores (when busy, CPU ratios are the fairer)`);
console.log(`${pad("leaves", 9)} ${pad("values MB", 9)} ${pad("rust wall", 10)} ${pad("js wall", 9)} ${pad("ratio", 7)} ` +
  `${pad("rust cpu", 10)} ${pad("js cpu", 9)} ${pad("ratio", 7)} ${pad("js runs", 7)}  roots`);
for (const { n, mb, report, wall, cpu, runs, same } of rows) {
  console.log(`${pad(n, 9)} ${pad(mb.toFixed(1), 9)} ${pad(report.rustSeconds.toFixed(4), 10)} ${pad(wall.toFixed(2), 9)} ` +
    `${ratio(wall, report.rustSeconds)} ${pad(report.rustCpuSeconds.toFixed(4), 10)} ${pad(cpu.toFixed(2), 9)} ` +
    `${ratio(cpu, report.rustCpuSeconds)} ${pad(runs, 7)}  ${same ? "equal" : "DIFFER"}`);
}
process.exit(rows.every((r) => r.same) ? 0 : 1);
