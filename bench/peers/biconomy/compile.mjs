// Compiles Biconomy's Smart Account v2 contracts from `@biconomy-devx/account-contracts-v2` 1.0.1 as installed in
// node_modules, with solc 0.8.17 (the npm alias `solc-0817`) and the package's documented optimizer settings
// (its CHANGELOG: "Solidity compiler: 0.8.17", "Solidity optimizer: { enabled: true, runs: 800 }") plus the IR
// pipeline (`viaIR`): the CHANGELOG does not name it, but the package's own `coverage` script turns it off with
// DISABLE_VIA_IR, so its build has it on, and without it ERC20SessionValidationModule does not compile ("Stack too
// deep"). No source is copied: solc reads every file through an import callback from node_modules.
//
// Imports resolve as the package's own build resolves them: `@account-abstraction/contracts/...` from the package's
// own dependency (0.6.0), `@openzeppelin/contracts/...` from OpenZeppelin Contracts 4.9 (the package's
// devDependency `^4.9.3`; its sources do not compile against OpenZeppelin 5, which the repository pins for itself),
// installed under the alias `@openzeppelin/contracts-v4`.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

const PACKAGE = '@biconomy-devx/account-contracts-v2';
const packageDir = dirname(require.resolve(`${PACKAGE}/package.json`));
const packageRequire = createRequire(join(packageDir, 'package.json'));
const accountAbstractionDir = dirname(packageRequire.resolve('@account-abstraction/contracts/package.json'));
let openZeppelinDir;
try {
  openZeppelinDir = dirname(require.resolve('@openzeppelin/contracts-v4/package.json'));
} catch {
  throw new Error('OpenZeppelin Contracts 4.9 is missing: npm install --save-dev --save-exact '
    + '@openzeppelin/contracts-v4@npm:@openzeppelin/contracts@4.9.3');
}

export const versions = {
  package: require(`${PACKAGE}/package.json`).version,
  accountAbstraction: packageRequire('@account-abstraction/contracts/package.json').version,
  openZeppelin: JSON.parse(readFileSync(join(openZeppelinDir, 'package.json'))).version,
  solc: require('solc-0817/package.json').version,
};
if (versions.package !== '1.0.1') throw new Error(`${PACKAGE} ${versions.package}, not 1.0.1`);
if (versions.accountAbstraction !== '0.6.0') throw new Error(`its EntryPoint sources are ${versions.accountAbstraction}`);
if (!versions.openZeppelin.startsWith('4.9.')) throw new Error(`OpenZeppelin ${versions.openZeppelin}, not 4.9`);

/** A source unit name → its file in node_modules. */
function locate(name) {
  for (const [prefix, dir] of [
    [`${PACKAGE}/`, packageDir],
    ['@account-abstraction/contracts/', accountAbstractionDir],
    ['@openzeppelin/contracts/', openZeppelinDir],
  ]) {
    if (name.startsWith(prefix)) return join(dir, name.slice(prefix.length));
  }
  return undefined;
}

function importCallback(name) {
  const file = locate(name);
  if (!file) return { error: `not found: ${name}` };
  try {
    return { contents: readFileSync(file, 'utf8') };
  } catch (error) {
    return { error: String(error) };
  }
}

/** The contracts used, by source file (inside the package) and name. */
export const CONTRACTS = {
  SmartAccount: 'contracts/smart-account/SmartAccount.sol',
  SmartAccountFactory: 'contracts/smart-account/factory/SmartAccountFactory.sol',
  EcdsaOwnershipRegistryModule: 'contracts/smart-account/modules/EcdsaOwnershipRegistryModule.sol',
  SessionKeyManager: 'contracts/smart-account/modules/SessionKeyManagerModule.sol',
  ERC20SessionValidationModule:
    'contracts/smart-account/modules/SessionValidationModules/ERC20SessionValidationModule.sol',
};

/** { name: { abi, bytecode } } for every contract in CONTRACTS. */
export function compile() {
  const solc = require('solc-0817');
  const sources = {};
  const outputSelection = {};
  for (const file of new Set(Object.values(CONTRACTS))) {
    const name = `${PACKAGE}/${file}`;
    sources[name] = { content: readFileSync(locate(name), 'utf8') };
  }
  for (const [contract, file] of Object.entries(CONTRACTS)) {
    outputSelection[`${PACKAGE}/${file}`] = { [contract]: ['abi', 'evm.bytecode.object'] };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: { optimizer: { enabled: true, runs: 800 }, viaIR: true, outputSelection },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: importCallback }));
  const errors = (output.errors ?? []).filter((entry) => entry.severity === 'error');
  if (errors.length) throw new Error(errors.map((entry) => entry.formattedMessage).join('\n'));
  const compiled = {};
  for (const [contract, file] of Object.entries(CONTRACTS)) {
    const { abi, evm } = output.contracts[`${PACKAGE}/${file}`][contract];
    compiled[contract] = { abi, bytecode: `0x${evm.bytecode.object}` };
  }
  return compiled;
}
