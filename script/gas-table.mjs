#!/usr/bin/env node
// Regenerates the README gas table from snapshots/GasBenchmark.json (written by the GasBenchmark forge test).
// `node script/gas-table.mjs` rewrites README.md between the gas-table markers; `--check` fails if it is stale.
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

const readmePath = `${root}README.md`;
const readme = readFileSync(readmePath, 'utf8');
const start = '<!-- gas-table:start -->';
const end = '<!-- gas-table:end -->';
const i = readme.indexOf(start);
const j = readme.indexOf(end);
if (i < 0 || j < i) throw new Error('README.md has no gas-table markers');
const updated = `${readme.slice(0, i + start.length)}\n${out}\n${readme.slice(j)}`;
if (process.argv.includes('--check')) {
  if (updated !== readme) {
    console.error('README gas table is stale: run `node script/gas-table.mjs` and commit');
    process.exit(1);
  }
  console.log('README gas table is current');
} else {
  writeFileSync(readmePath, updated);
  console.log('README gas table updated');
}
