#!/usr/bin/env node
// Regenerates README's gas tables: what a chain charges, from bench/anvil-gas.json (real transactions on anvil,
// written by `cargo run -p keyscope-bench --bin anvil-gas`), between the anvil-gas markers; and the contracts'
// regression gate, from snapshots/GasBenchmark.json (written by the GasBenchmark forge test), between the gas-table
// markers; and bench/premium.svg, the chart of the peers' premiums. `node script/gas-table.mjs` rewrites them;
// `--check` fails if any is stale.
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const gas = JSON.parse(readFileSync(`${root}snapshots/GasBenchmark.json`, 'utf8'));
const get = (key) => {
  if (!(key in gas)) throw new Error(`snapshots/GasBenchmark.json has no ${key}`);
  return Number(gas[key]);
};
const fmt = (n) => n.toLocaleString('en-US');
const signed = (n) => (n >= 0 ? `+${fmt(n)}` : `−${fmt(-n)}`);
const verdict = (ok) => (ok ? 'met' : '**not met**');

const scenarios = [
  ['owner', 'owner-signed ERC-20 transfer'],
  ['session_1leaf', 'session-signed, 1-leaf tree'],
  ['session_1leaf_perOpFee', 'same, per-operation fee bound only (no fee budget)'],
  ['session_1leaf_noFeeScope', 'same, unlimited fees (no fee scope)'],
  ['session_1leaf_p256', 'same, signed by a P-256 key (Solidity verification, no precompile)'],
  ['session_1leaf_webAuthn', 'same, signed by a WebAuthn passkey (Solidity verification, no precompile)'],
  ['session_1024leaves', 'session-signed, 1024-leaf tree (depth 10)'],
  ['session_2rules', 'session-signed, 1-leaf tree, 2 argument rules'],
  ['session_2leaves_revokedSibling', 'session-signed, 2-leaf tree, the other permission revoked'],
  ['session_1leaf_erc20Total', 'session-signed, 1-leaf tree, lifetime ERC-20 limit'],
  ['session_1leaf_erc20PerPeriod', 'session-signed, 1-leaf tree, ERC-20 allowance per hour'],
  ['session_enable', 'first session op, enabled by the owner\'s signature in it (enable mode)'],
  ['session_enableMultichain3', 'same, one owner signature for 3 chains (multichain enable, 2-node proof)'],
];

let out = '';
for (const version of ['v07', 'v08']) {
  const owner = get(`${version}_owner_handleOps`);
  out += `\n**EntryPoint ${version === 'v07' ? 'v0.7' : 'v0.8'}**\n\n`;
  out += '| scenario | handleOps execution | calldata | tx total | vs owner | account validateUserOp | module validateUserOp |\n';
  out += '|---|---:|---:|---:|---:|---:|---:|\n';
  for (const [key, label] of scenarios) {
    const exec = get(`${version}_${key}_handleOps`);
    const calldata = get(`${version}_${key}_handleOps_calldata`);
    const total = 21000 + exec + calldata;
    const ownerTotal = 21000 + owner + get(`${version}_owner_handleOps_calldata`);
    out += `| ${label} | ${fmt(exec)} | ${fmt(calldata)} | ${fmt(total)} | ${key === 'owner' ? '—' : `${signed(exec - owner)} exec, ${signed(total - ownerTotal)} total`} | ${fmt(get(`${version}_${key}_validateUserOp`))} | ${fmt(get(`${version}_${key}_moduleValidateUserOp`))} |\n`;
  }
}

const v = (k) => get(`v07_${k}`);
const sessionOverOwner = v('session_1leaf_handleOps') - v('owner_handleOps');
const base = v('session_1leaf_moduleValidateUserOp');
const perLevel = (v('session_1024leaves_moduleValidateUserOp') - base) / 10;
const perRule = (v('session_2rules_moduleValidateUserOp') - base) / 2;
const perOpFee = v('session_1leaf_perOpFee_moduleValidateUserOp') - v('session_1leaf_noFeeScope_moduleValidateUserOp');
const budget = v('session_1leaf_moduleValidateUserOp') - v('session_1leaf_noFeeScope_moduleValidateUserOp');
out += '\nGoals (EntryPoint v0.7, execution gas):\n\n';
out += '| goal | measured | verdict |\n|---|---:|---|\n';
out += `| session transfer ≤ owner + 2,000 | owner ${signed(sessionOverOwner)} | ${verdict(sessionOverOwner <= 2000)} |\n`;
out += `| module validation ≤ 10,500 (1 leaf) | ${fmt(base)} | ${verdict(base <= 10500)} |\n`;
out += `| ≤ 650 per Merkle level | ${fmt(perLevel)} | ${verdict(perLevel <= 650)} |\n`;
out += `| ≤ 650 per argument rule | ${fmt(perRule)} | ${verdict(perRule <= 650)} |\n`;
out += `| per-operation fee bound, over unlimited fees (≤ +500) | ${signed(perOpFee)} | ${verdict(perOpFee <= 500)} |\n`;
out += `| fee budget over unlimited fees (one warm SSTORE) | ${signed(budget)} | no cold slot added |\n`;
const erc20Total = v('session_1leaf_erc20Total_moduleValidateUserOp') - base;
const perPeriod = v('session_1leaf_erc20PerPeriod_moduleValidateUserOp') - v('session_1leaf_erc20Total_moduleValidateUserOp');
out += `| lifetime ERC-20 limit over none (one cold slot) | ${signed(erc20Total)} | measured |\n`;
const multichain = v('session_enableMultichain3_moduleValidateUserOp') - v('session_enable_moduleValidateUserOp');
out += `| multichain enable (3 chains) over single-chain enable | ${signed(multichain)} | measured |\n`;
out += `| ERC-20 allowance per period over a lifetime limit (≤ +500: same slot count) | ${signed(perPeriod)} | ${verdict(perPeriod <= 500)} |\n`;
// The ERC-1271 path (TypedDataSignatures.t.sol, snapshots/TypedData.json): no user operation, one eth_call's gas.
const typedData = JSON.parse(readFileSync(`${root}snapshots/TypedData.json`, 'utf8'));
const offerCheck = Number(typedData.v08_session_offer_isValidSignature);
if (!Number.isFinite(offerCheck)) throw new Error('snapshots/TypedData.json has no v08_session_offer_isValidSignature');
out += `| ERC-1271 check of a session-signed offer (account \`isValidSignature\`, ERC-7739, secp256k1, cold) | ${fmt(offerCheck)} | measured |\n`;

// Real transactions on anvil: premiums over the owner's operation on the same account.
const anvil = JSON.parse(readFileSync(`${root}bench/anvil-gas.json`, 'utf8')).measurements;
const measured = (entryPoint, scenario) => {
  const found = anvil.find((m) => m.entryPoint === entryPoint && m.scenario === scenario);
  if (!found) throw new Error(`bench/anvil-gas.json has no ${entryPoint} "${scenario}"`);
  return found;
};
let real = '';
for (const entryPoint of ['v0.7', 'v0.8']) {
  const owner = measured(entryPoint, 'owner-signed');
  real += `\n**EntryPoint ${entryPoint}**\n\n`;
  real += '| scenario (the same ERC-20 transfer) | tx `gasUsed` | `actualGasUsed` | calldata bytes | premium: `actualGasUsed` | premium: tx `gasUsed` | premium: calldata bytes |\n';
  real += '|---|---:|---:|---:|---:|---:|---:|\n';
  for (const m of anvil.filter((m) => m.entryPoint === entryPoint)) {
    const premium = (field) => (m === owner ? '—' : signed(m[field] - owner[field]));
    real += `| ${m.scenario} | ${fmt(m.gasUsed)} | ${fmt(m.actualGasUsed)} | ${fmt(m.calldataBytes)} | ${premium('actualGasUsed')} | ${premium('gasUsed')} | ${premium('calldataBytes')} |\n`;
  }
}
const results = JSON.parse(readFileSync(`${root}bench/anvil-gas.json`, 'utf8'));
// The session signer kinds: the session with both rules, its signer a key of another kind, on the same accounts;
// each over the secp256k1 row of the same session scope and EntryPoint.
const kindBase = 'session, 1-leaf tree, recipient eq and amount lte';
const kinds = results.signerKinds ?? [];
if (kinds.length === 0) throw new Error('bench/anvil-gas.json has no signerKinds');
real += '\nSession signer kinds, **with the P-256 precompile** (EIP-7951 at 0x100, which anvil\'s default hardfork has): the\n';
real += 'same session (1-leaf tree, recipient eq and amount lte), its `signer` a key of another kind, on the same account,\n';
real += 'measured the same way; fixed keys (the passkey\'s assertion carries signature counter 1). Differences are over the\n';
real += 'secp256k1 session\'s row above. The forge table below has P-256 and WebAuthn without the precompile (Solidity\n';
real += 'verification).\n\n';
real += '| EntryPoint | session signer | tx `gasUsed` | `actualGasUsed` | calldata bytes | vs secp256k1: `actualGasUsed` | vs secp256k1: tx `gasUsed` | vs secp256k1: calldata bytes |\n';
real += '|---|---|---:|---:|---:|---:|---:|---:|\n';
for (const entryPoint of ['v0.7', 'v0.8']) {
  const base = measured(entryPoint, kindBase);
  real += `| ${entryPoint} | secp256k1 key (the row above) | ${fmt(base.gasUsed)} | ${fmt(base.actualGasUsed)} | ${fmt(base.calldataBytes)} | — | — | — |\n`;
  for (const m of kinds.filter((m) => m.entryPoint === entryPoint)) {
    const over = (field) => signed(m[field] - base[field]);
    real += `| ${entryPoint} | ${m.scenario} | ${fmt(m.gasUsed)} | ${fmt(m.actualGasUsed)} | ${fmt(m.calldataBytes)} | ${over('actualGasUsed')} | ${over('gasUsed')} | ${over('calldataBytes')} |\n`;
  }
}
// The peers, measured the same way on the same node: each one's premium over its own owner-signed operation.
const refusedAll = (probes) => probes.map((p) => `${p.probe}: ${p.refused ? `refused (${p.reason})` : '**accepted**'}`).join('; ');
real += '\nSide by side with the peers (each premium over the same system\'s owner-signed transfer on the same account, on\n';
real += 'the EntryPoint the system runs on; the scope probed with one operation just outside it each way):\n\n';
real += '| system | EntryPoint | scope of the key | premium: `actualGasUsed` | premium: tx `gasUsed` | premium: calldata bytes | probes |\n';
real += '|---|---|---|---:|---:|---:|---|\n';
const keyscopeRow = (scenario, scope, probes) => {
  const p = (field) => signed(measured('v0.7', scenario)[field] - measured('v0.7', 'owner-signed')[field]);
  real += `| Keyscope | v0.7 | ${scope} | ${p('actualGasUsed')} | ${p('gasUsed')} | ${p('calldataBytes')} | ${probes} |\n`;
};
keyscopeRow('session, 1-leaf tree, recipient eq and amount lte', 'the token, `transfer`, recipient eq, amount ≤ 100 per call, a window, the default fee scope', refusedAll(results.probes));
keyscopeRow('same, plus a lifetime ERC-20 limit', 'the same, plus at most 1,000,000 in all (a counter, like the peer\'s ERC20TransferAmount)', 'the same rules and window as above');
for (const peer of results.peers) {
  const [owner, scoped] = peer.measurements;
  const p = (field) => signed(scoped[field] - owner[field]);
  real += `| ${peer.system} | ${peer.entryPoint} | ${peer.scope} | ${p('actualGasUsed')} | ${p('gasUsed')} | ${p('calldataBytes')} | ${refusedAll(peer.probes)} |\n`;
}
real += '\n![Premium over the owner-signed transfer, actualGasUsed](bench/premium.svg)\n';

// The chart of the same premiums (`actualGasUsed`), one bar per row of the peer table.
const bars = [
  ['Keyscope (v0.7): recipient eq, amount ≤ per call', measured('v0.7', 'session, 1-leaf tree, recipient eq and amount lte')],
  ['Keyscope (v0.7): the same, plus a lifetime counter', measured('v0.7', 'same, plus a lifetime ERC-20 limit')],
].map(([label, m]) => [label, m.actualGasUsed - measured('v0.7', 'owner-signed').actualGasUsed]);
for (const peer of results.peers) {
  const [owner, scoped] = peer.measurements;
  bars.push([`${peer.system.split(' (')[0].split(' + ')[0]} (${peer.entryPoint})`, scoped.actualGasUsed - owner.actualGasUsed]);
}
const escape = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const chartWidth = 860;
const labelWidth = 360;
const barSpace = chartWidth - labelWidth - 110;
const rowHeight = 34;
const top = 40;
const largest = Math.max(...bars.map(([, value]) => value));
let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${chartWidth}" height="${top + rowHeight * bars.length + 16}" `
  + `font-family="sans-serif" font-size="13">\n`;
svg += `<rect width="100%" height="100%" fill="#ffffff"/>\n`;
svg += `<text x="10" y="22" font-size="15" font-weight="bold">Premium over the owner-signed ERC-20 transfer `
  + `(actualGasUsed, anvil)</text>\n`;
bars.forEach(([label, value], row) => {
  const y = top + row * rowHeight;
  const length = Math.max(1, Math.round((value / largest) * barSpace));
  const colour = label.startsWith('Keyscope') ? '#2b6cb0' : '#a0aec0';
  svg += `<text x="${labelWidth - 8}" y="${y + 18}" text-anchor="end">${escape(label)}</text>\n`;
  svg += `<rect x="${labelWidth}" y="${y + 4}" width="${length}" height="20" fill="${colour}"/>\n`;
  svg += `<text x="${labelWidth + length + 6}" y="${y + 18}">${signed(value)}</text>\n`;
});
svg += '</svg>\n';

const premium = (scenario, field) => measured('v0.7', scenario)[field] - measured('v0.7', 'owner-signed')[field];
const rules = 'session, 1-leaf tree, recipient eq and amount lte';
real += '\nGoals (issue 14; EntryPoint v0.7, premium over the owner-signed transfer):\n\n';
real += '| goal | measured | verdict |\n|---|---:|---|\n';
real += `| 1-leaf tree with both rules: ≤ +5,000 \`actualGasUsed\` | ${signed(premium(rules, 'actualGasUsed'))} | ${verdict(premium(rules, 'actualGasUsed') <= 5000)} |\n`;
real += `| 1-leaf tree with both rules: ≤ +9,000 tx \`gasUsed\` | ${signed(premium(rules, 'gasUsed'))} | ${verdict(premium(rules, 'gasUsed') <= 9000)} |\n`;
real += `| ≤ +600 calldata bytes | ${signed(premium(rules, 'calldataBytes'))} | ${verdict(premium(rules, 'calldataBytes') <= 600)} |\n`;
const cumulative = premium('same, plus a lifetime ERC-20 limit', 'actualGasUsed');
real += `| with a cumulative ERC-20 limit: ≤ +10,000 \`actualGasUsed\` | ${signed(cumulative)} | ${verdict(cumulative <= 10000)} |\n`;

const readmePath = `${root}README.md`;
const readme = readFileSync(readmePath, 'utf8');
/** `text` with the part between `<!-- name:start -->` and `<!-- name:end -->` replaced by `body`. */
const between = (text, name, body) => {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README.md has no ${name} markers`);
  return `${text.slice(0, i + start.length)}\n${body}\n${text.slice(j)}`;
};
const updated = between(between(readme, 'anvil-gas', real), 'gas-table', out);
const chartPath = `${root}bench/premium.svg`;
let chart = '';
try {
  chart = readFileSync(chartPath, 'utf8');
} catch {
  // written below; stale under --check
}
if (process.argv.includes('--check')) {
  if (updated !== readme || chart !== svg) {
    console.error('README gas tables are stale: run `node script/gas-table.mjs` and commit');
    process.exit(1);
  }
  console.log('README gas tables are current');
} else {
  writeFileSync(readmePath, updated);
  writeFileSync(chartPath, svg);
  console.log('README gas tables updated');
}
