// A peer's gas, measured like Keyscope's own (bench/src/main.rs) and like bench/peers/metamask.mjs: Biconomy Smart
// Account v2 with its SessionKeyManager, from `@biconomy-devx/account-contracts-v2` 1.0.1 (the Solidity sources,
// compiled here with solc 0.8.17: bench/peers/biconomy/compile.mjs), on a running anvil.
//
//   node bench/peers/biconomy.mjs NODE_URL
//
// The same ERC-20 transfer (7 units of Keyscope's DemoToken to 0x5e5e…5e) done two ways by one SmartAccount v2 (a
// Proxy of the SmartAccount implementation, deployed through the package's SmartAccountFactory), both as
// `execute_ncC(token, 0, transfer(recipient, 7))` (the account's gas-optimized execute, the one the ERC-20 session
// validation module accepts besides `execute`):
//
// (a) owner-signed: validated by the account's EcdsaOwnershipRegistryModule (its owner, an EOA, signs the
//     UserOperation hash as an eth_sign message);
// (b) session key (scoped like the session): validated by the package's SessionKeyManager (enabled on the account,
//     a Merkle root of session leaves set by the account), whose one leaf binds validUntil 4102444800 (2100-01-01),
//     validAfter 0, the ERC20SessionValidationModule and its session data (session key, token, recipient, at most
//     100 units per call); the session key signs the UserOperation hash as an eth_sign message. The module checks
//     that the account's call is `execute`/`execute_ncC` to the token with value 0, and that the inner call's first
//     two arguments, decoded as (address, uint256), are the recipient and at most the maximum; it does not check the
//     inner call's selector, and the maximum is per call, not a total.
//
// The premium of (b) over (a) is what the session path costs over the account's own.
//
// Method (Keyscope's, as metamask.mjs): each measured operation is a real `EntryPoint.handleOps` transaction
// (EntryPoint v0.6, at its canonical address) sent by anvil's dev account 0, one operation per transaction, each in
// its own block (automine); steady state (each kind of operation runs once before it is measured; the account keeps a
// deposit at the EntryPoint, so no prefund is transferred); `preVerificationGas`
// 0, fees fixed (1 gwei priority, 2 gwei max), `verificationGasLimit` 500,000 and the smallest `callGasLimit` under
// which the operation's call succeeds, found by bisection on `evm_snapshot`/`evm_revert` (v0.6 has no penalty on
// unused execution gas; the bisection is kept so the method is the same). Recorded: the receipt's `gasUsed`,
// `UserOperationEvent.actualGasUsed`, the transaction's calldata bytes and the `callGasLimit`. Then four probes of the
// session's scope, each sent inside a snapshot and reverted (no gas recorded): another recipient, 101 units,
// `approve` instead of `transfer`, and after the time window (the clock moved past validUntil and one block mined,
// so the `eth_call` below sees it too). A refused probe's reason is the EntryPoint's revert (read by an `eth_call` of
// the same handleOps just before it is sent: a reverted transaction's receipt has no revert data) or the operation's
// revert reason.
//
// Whatever is missing is deployed first: the EntryPoint through anvil's CREATE2 deployer (salt 0 and the init code of
// `@account-abstraction/contracts` 0.6.0, which give the canonical address), Biconomy's contracts and the token from a
// fixed deployer key, so every address is the same on every fresh anvil. Every input is fixed (keys, index, amounts,
// times, fees): two runs give the same figures. The measuring part (the account included) runs inside a snapshot that
// is reverted at the end, so the node is left as the deployments left it.
//
// Prints one JSON object on stdout; progress on stderr.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  concat, createPublicClient, createWalletClient, decodeErrorResult, decodeEventLog, defineChain, encodeAbiParameters,
  encodeFunctionData, encodePacked, erc20Abi, getContractAddress, http, keccak256, parseAbi, parseEther, parseGwei,
  size, stringToHex, toHex,
} from 'viem';
import { entryPoint06Abi, entryPoint06Address, getUserOperationHash } from 'viem/account-abstraction';
import { privateKeyToAccount } from 'viem/accounts';
import { compile, versions } from './biconomy/compile.mjs';

const require = createRequire(import.meta.url);

const nodeUrl = process.argv[2];
if (!nodeUrl) {
  console.error('usage: node bench/peers/biconomy.mjs NODE_URL');
  process.exit(2);
}
const log = (...args) => console.error('[biconomy]', ...args);

// ---- Fixed inputs ---------------------------------------------------------------------------------------------------

/** A fixed private key: keccak256 of a fixed string. */
const fixedKey = (name) => keccak256(stringToHex(`keyscope.bench.peers.biconomy.${name}`));
/** anvil's published dev account 0 (never a secret: every anvil has it): sends handleOps, is its beneficiary. */
const ANVIL_ACCOUNT_0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
/** Deploys Biconomy's contracts and the token (its own nonces: the addresses do not depend on the node's history). */
const deployer = privateKeyToAccount(fixedKey('deployer'));
/** The account's owner and the session key. */
const owner = privateKeyToAccount(fixedKey('owner'));
const sessionKey = privateKeyToAccount(fixedKey('session'));
const sender = privateKeyToAccount(ANVIL_ACCOUNT_0);

/** Keyscope's bench: the recipient (no zero byte), the amount, the balance minted. */
const RECIPIENT = '0x5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e';
const OTHER_RECIPIENT = '0x6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f';
const AMOUNT = 7n;
const MINTED = 1_000_000n;
/** The session's limits: 100 units per call, until 2100-01-01 (Keyscope's sessions' last second), from 0. */
const MAX_AMOUNT = 100n;
const VALID_UNTIL = 4_102_444_800;
const VALID_AFTER = 0;
/** The account's index in the factory. */
const ACCOUNT_INDEX = 0n;
/** The operations' gas: Keyscope's bench's settings. */
const VERIFICATION_GAS_LIMIT = 500_000n;
const MAX_PRIORITY_FEE_PER_GAS = parseGwei('1');
const MAX_FEE_PER_GAS = parseGwei('2');
const HANDLE_OPS_GAS = 3_000_000n;
/** The bisection's range for callGasLimit; probes use the top. */
const CALL_GAS_RANGE = [1_000n, 1_000_000n];

// ---- Artifacts ------------------------------------------------------------------------------------------------------

const CREATE2_DEPLOYER = '0x4e59b44847b379578588920ca78fbf26c0b4956c';
const ENTRY_POINT_V06_SALT = `0x${'00'.repeat(32)}`;
const entryPointArtifact = require('@account-abstraction/contracts-v06/artifacts/EntryPoint.json');
/** Keyscope's DemoToken (OpenZeppelin's ERC20, anyone may mint), the very bytecode Keyscope's bench deploys. */
const demoToken = JSON.parse(readFileSync(new URL('../../crates/bindings/artifacts/DemoToken.json', import.meta.url)));
const mintAbi = parseAbi(['function mint(address to, uint256 amount)']);

log(`compiling ${Object.entries(versions).map(([name, version]) => `${name} ${version}`).join(', ')}`);
const compiled = compile();
/** The deployer's nonces: what it deploys, in this order (the token last). */
const DEPLOYMENT_ORDER = [
  'SmartAccount', 'SmartAccountFactory', 'EcdsaOwnershipRegistryModule', 'SessionKeyManager',
  'ERC20SessionValidationModule',
];

// ---- Clients --------------------------------------------------------------------------------------------------------

const probeClient = createPublicClient({ transport: http(nodeUrl) });
const chainId = await probeClient.getChainId();
const chain = defineChain({
  id: chainId,
  name: 'anvil',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [nodeUrl] } },
});
// No cache: after an evm_revert every read must come from the node.
const node = createPublicClient({ chain, transport: http(nodeUrl), cacheTime: 0 });
const senderWallet = createWalletClient({ chain, transport: http(nodeUrl), account: sender });
const deployerWallet = createWalletClient({ chain, transport: http(nodeUrl), account: deployer });
const rpc = (method, params = []) => node.request({ method, params });

/** Sends a plain transaction from `wallet` and waits for its successful receipt. */
async function transact(wallet, request) {
  const nonce = await node.getTransactionCount({ address: wallet.account.address, blockTag: 'latest' });
  const hash = await wallet.sendTransaction({ ...request, nonce });
  const receipt = await node.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`transaction ${hash} reverted`);
  return receipt;
}

// ---- Deployments (whatever is missing) ------------------------------------------------------------------------------

async function hasCode(address) {
  const code = await node.getCode({ address });
  return code !== undefined && code !== '0x';
}

async function ensureEntryPoint() {
  const predicted = getContractAddress({
    opcode: 'CREATE2', from: CREATE2_DEPLOYER, salt: ENTRY_POINT_V06_SALT, bytecode: entryPointArtifact.bytecode,
  });
  if (predicted !== entryPoint06Address) {
    throw new Error(`the artifact's EntryPoint would be at ${predicted}, not ${entryPoint06Address}`);
  }
  if (await hasCode(entryPoint06Address)) return;
  if (!(await hasCode(CREATE2_DEPLOYER))) throw new Error(`no CREATE2 deployer at ${CREATE2_DEPLOYER}`);
  log('deploying EntryPoint v0.6 through the CREATE2 deployer');
  await transact(senderWallet, {
    to: CREATE2_DEPLOYER, data: concat([ENTRY_POINT_V06_SALT, entryPointArtifact.bytecode]), gas: 8_000_000n,
  });
  if (!(await hasCode(entryPoint06Address))) throw new Error('the EntryPoint was not deployed');
}

/** The constructor arguments, by contract. */
const constructorArgs = (addresses) => ({
  SmartAccount: [entryPoint06Address],
  SmartAccountFactory: [addresses.SmartAccount, deployer.address],
  EcdsaOwnershipRegistryModule: [],
  SessionKeyManager: [],
  ERC20SessionValidationModule: [],
});

async function ensureBiconomy() {
  const addresses = Object.fromEntries(DEPLOYMENT_ORDER.map((name, nonce) => [
    name, getContractAddress({ from: deployer.address, nonce: BigInt(nonce) }),
  ]));
  const token = getContractAddress({ from: deployer.address, nonce: BigInt(DEPLOYMENT_ORDER.length) });
  const deployed = await node.getTransactionCount({ address: deployer.address });
  if (deployed === 0) {
    log('deploying Biconomy Smart Account v2 (implementation, factory, modules) and the token');
    await rpc('anvil_setBalance', [deployer.address, toHex(parseEther('100'))]);
    const args = constructorArgs(addresses);
    for (const [nonce, name] of DEPLOYMENT_ORDER.entries()) {
      const { abi, bytecode } = compiled[name];
      const hash = await deployerWallet.deployContract({ abi, bytecode, args: args[name], nonce, gas: 10_000_000n });
      const receipt = await node.waitForTransactionReceipt({ hash });
      if (receipt.status !== 'success' || receipt.contractAddress?.toLowerCase() !== addresses[name].toLowerCase()) {
        throw new Error(`${name} was not deployed at ${addresses[name]} (${receipt.status}, ${receipt.contractAddress})`);
      }
    }
    const hash = await deployerWallet.deployContract({
      abi: demoToken.abi, bytecode: demoToken.bytecode, nonce: DEPLOYMENT_ORDER.length,
    });
    await node.waitForTransactionReceipt({ hash });
  }
  for (const address of [...Object.values(addresses), token]) {
    if (!(await hasCode(address))) {
      throw new Error(`no code at ${address}: the deployer ${deployer.address} was used for something else`);
    }
  }
  return { addresses, token };
}

// ---- Operations -----------------------------------------------------------------------------------------------------

/** The operation of `account` calling `callData`, with `callGasLimit` and a signature by `sign(userOpHash)`. */
async function userOperation(account, callData, callGasLimit, sign) {
  const nonce = await node.readContract({
    address: entryPoint06Address, abi: entryPoint06Abi, functionName: 'getNonce', args: [account, 0n],
  });
  const userOp = {
    sender: account,
    nonce,
    initCode: '0x',
    callData,
    callGasLimit,
    verificationGasLimit: VERIFICATION_GAS_LIMIT,
    preVerificationGas: 0n,
    maxFeePerGas: MAX_FEE_PER_GAS,
    maxPriorityFeePerGas: MAX_PRIORITY_FEE_PER_GAS,
    paymasterAndData: '0x',
    signature: '0x',
  };
  const hash = getUserOperationHash({
    userOperation: userOp, entryPointAddress: entryPoint06Address, entryPointVersion: '0.6', chainId,
  });
  return { ...userOp, signature: await sign(hash) };
}

/** A revert reason, decoded if it is an Error(string) or one of the EntryPoint's errors. */
function reason(data) {
  if (!data || data === '0x') return 'no revert data';
  for (const abi of [[], entryPoint06Abi]) {
    try {
      const decoded = decodeErrorResult({ abi, data });
      return decoded.args?.length ? `${decoded.errorName}(${decoded.args.map(String).join(', ')})` : decoded.errorName;
    } catch { /* next */ }
  }
  return data;
}

/** The revert data somewhere in a viem error's chain of causes. */
function revertData(error) {
  for (let cause = error; cause; cause = cause.cause) {
    if (typeof cause.data === 'string' && cause.data.startsWith('0x')) return cause.data;
    if (typeof cause.data?.data === 'string') return cause.data.data;
  }
  return undefined;
}

/**
 * Sends `handleOps([op])` from dev account 0 (explicit nonce, read from the node) and returns its outcome: the
 * receipt, `UserOperationEvent` and `UserOperationRevertReason` if any. `reverted` when handleOps itself reverts,
 * with the reason an `eth_call` of the same transaction gave just before it was sent.
 */
async function handleOps(op) {
  const data = encodeFunctionData({ abi: entryPoint06Abi, functionName: 'handleOps', args: [[op], sender.address] });
  let simulated;
  try {
    await node.call({ account: sender.address, to: entryPoint06Address, data, gas: HANDLE_OPS_GAS });
  } catch (error) {
    simulated = reason(revertData(error));
  }
  const nonce = await node.getTransactionCount({ address: sender.address, blockTag: 'latest' });
  let hash;
  try {
    hash = await senderWallet.sendTransaction({ to: entryPoint06Address, data, gas: HANDLE_OPS_GAS, nonce });
  } catch (error) {
    return { reverted: true, error, simulated };
  }
  const receipt = await node.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') return { reverted: true, receipt, simulated };
  let event;
  let revertReason;
  for (const entry of receipt.logs) {
    if (entry.address.toLowerCase() !== entryPoint06Address.toLowerCase()) continue;
    try {
      const decoded = decodeEventLog({ abi: entryPoint06Abi, data: entry.data, topics: entry.topics });
      if (decoded.eventName === 'UserOperationEvent') event = decoded.args;
      if (decoded.eventName === 'UserOperationRevertReason') revertReason = decoded.args.revertReason;
    } catch { /* another event */ }
  }
  if (!event) throw new Error(`no UserOperationEvent in ${hash}`);
  return { reverted: false, receipt, event, revertReason, calldataBytes: size(data) };
}

/** Runs `body` between evm_snapshot and evm_revert. */
async function inSnapshot(body) {
  const id = await rpc('evm_snapshot');
  try {
    return await body();
  } finally {
    if (!(await rpc('evm_revert', [id]))) throw new Error(`evm_revert refused snapshot ${id}`);
  }
}

// ---- The scenarios --------------------------------------------------------------------------------------------------

await ensureEntryPoint();
const { addresses, token } = await ensureBiconomy();
log(`EntryPoint ${entryPoint06Address}, factory ${addresses.SmartAccountFactory}, `
  + `SessionKeyManager ${addresses.SessionKeyManager}, token ${token}`);

const accountAbi = compiled.SmartAccount.abi;
const outer = await rpc('evm_snapshot');
let result;
try {
  // The account: the factory's counterfactual SmartAccount whose first module is the ECDSA ownership module.
  const factory = { address: addresses.SmartAccountFactory, abi: compiled.SmartAccountFactory.abi };
  const moduleSetupData = encodeFunctionData({
    abi: compiled.EcdsaOwnershipRegistryModule.abi, functionName: 'initForSmartAccount', args: [owner.address],
  });
  const factoryArgs = [addresses.EcdsaOwnershipRegistryModule, moduleSetupData, ACCOUNT_INDEX];
  const account = await node.readContract({
    ...factory, functionName: 'getAddressForCounterFactualAccount', args: factoryArgs,
  });
  if (!(await hasCode(account))) {
    await transact(senderWallet, {
      to: factory.address,
      data: encodeFunctionData({ ...factory, functionName: 'deployCounterFactualAccount', args: factoryArgs }),
      gas: 2_000_000n,
    });
  }
  await rpc('anvil_setBalance', [account, toHex(parseEther('10'))]);
  // A deposit at the EntryPoint, as Keyscope's bench gives its accounts: no measured operation transfers a prefund.
  await transact(senderWallet, {
    to: entryPoint06Address,
    data: encodeFunctionData({ abi: entryPoint06Abi, functionName: 'depositTo', args: [account] }),
    value: parseEther('0.1'),
  });
  const held = await node.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [account] });
  if (held < MINTED) {
    await transact(senderWallet, {
      to: token, data: encodeFunctionData({ abi: mintAbi, functionName: 'mint', args: [account, MINTED] }),
      gas: 200_000n,
    });
  }
  log(`account ${account}`);

  /** Signatures: (module signature, validation module), as SmartAccount.validateUserOp decodes them. */
  const wrap = (moduleSignature, module) => encodeAbiParameters(
    [{ type: 'bytes' }, { type: 'address' }], [moduleSignature, module],
  );
  const ownerSign = async (hash) => wrap(
    await owner.signMessage({ message: { raw: hash } }), addresses.EcdsaOwnershipRegistryModule,
  );

  // The session: one leaf (validUntil, validAfter, the ERC-20 module, its data), so the Merkle root is the leaf and
  // the proof is empty.
  const sessionKeyData = encodeAbiParameters(
    [{ type: 'address' }, { type: 'address' }, { type: 'address' }, { type: 'uint256' }],
    [sessionKey.address, token, RECIPIENT, MAX_AMOUNT],
  );
  const leaf = keccak256(encodePacked(
    ['uint48', 'uint48', 'address', 'bytes'],
    [VALID_UNTIL, VALID_AFTER, addresses.ERC20SessionValidationModule, sessionKeyData],
  ));
  const sessionSign = async (hash) => wrap(
    encodeAbiParameters(
      [
        { type: 'uint48' }, { type: 'uint48' }, { type: 'address' }, { type: 'bytes' }, { type: 'bytes32[]' },
        { type: 'bytes' },
      ],
      [
        VALID_UNTIL, VALID_AFTER, addresses.ERC20SessionValidationModule, sessionKeyData, [],
        await sessionKey.signMessage({ message: { raw: hash } }),
      ],
    ),
    addresses.SessionKeyManager,
  );

  /** Sends the operation for real (in its own block); throws unless its call succeeded. */
  async function send(callData, callGasLimit, sign) {
    const outcome = await handleOps(await userOperation(account, callData, callGasLimit, sign));
    if (outcome.reverted || !outcome.event.success) {
      const why = outcome.reverted ? `handleOps reverted: ${outcome.simulated}` : reason(outcome.revertReason);
      throw Object.assign(new Error(`the operation failed: ${why}`), { outcome });
    }
    return outcome;
  }

  // The session is set up by the owner: enableModule(SessionKeyManager) and SessionKeyManager.setMerkleRoot(leaf),
  // one owner-signed batch.
  const enabled = await node.readContract({
    address: account, abi: accountAbi, functionName: 'isModuleEnabled', args: [addresses.SessionKeyManager],
  });
  if (!enabled) {
    await send(encodeFunctionData({
      abi: accountAbi,
      functionName: 'executeBatch_y6U',
      args: [
        [account, addresses.SessionKeyManager],
        [0n, 0n],
        [
          encodeFunctionData({ abi: accountAbi, functionName: 'enableModule', args: [addresses.SessionKeyManager] }),
          encodeFunctionData({ abi: compiled.SessionKeyManager.abi, functionName: 'setMerkleRoot', args: [leaf] }),
        ],
      ],
    }), CALL_GAS_RANGE[1], ownerSign);
  }

  const transferData = (to, amount) => encodeFunctionData({
    abi: erc20Abi, functionName: 'transfer', args: [to, amount],
  });
  /** The account's call: execute_ncC(token, 0, data). */
  const executeCall = (data) => encodeFunctionData({
    abi: accountAbi, functionName: 'execute_ncC', args: [token, 0n, data],
  });

  const scenarios = [
    { scenario: 'owner-signed', sign: ownerSign, callData: executeCall(transferData(RECIPIENT, AMOUNT)) },
    {
      scenario: 'session key (scoped like the session)',
      sign: sessionSign,
      callData: executeCall(transferData(RECIPIENT, AMOUNT)),
    },
  ];

  /** Whether the call succeeds with `callGasLimit` (sent in a snapshot, reverted). */
  const succeeds = (callData, callGasLimit, sign) => inSnapshot(async () => {
    const outcome = await handleOps(await userOperation(account, callData, callGasLimit, sign));
    return !outcome.reverted && outcome.event.success;
  });

  const recipientBalance = () => node.readContract({
    address: token, abi: erc20Abi, functionName: 'balanceOf', args: [RECIPIENT],
  });
  const received = await recipientBalance();
  const measurements = [];
  for (const { scenario, sign, callData } of scenarios) {
    log(`${scenario}: measuring`);
    // Steady state: the nonce and the balances are written once first.
    await send(callData, CALL_GAS_RANGE[1], sign);
    let [low, high] = CALL_GAS_RANGE;
    if (!(await succeeds(callData, high, sign))) throw new Error(`${scenario} fails even with callGasLimit ${high}`);
    // Invariant: `high` succeeds, `low` fails (or is the range's floor).
    while (high - low > 1n) {
      const middle = low + (high - low) / 2n;
      if (await succeeds(callData, middle, sign)) high = middle;
      else low = middle;
    }
    const outcome = await send(callData, high, sign);
    measurements.push({
      scenario,
      gasUsed: Number(outcome.receipt.gasUsed),
      actualGasUsed: Number(outcome.event.actualGasUsed),
      calldataBytes: outcome.calldataBytes,
      callGasLimit: Number(high),
    });
    log(`${scenario}: ${JSON.stringify(measurements.at(-1))}`);
  }
  // Each scenario's two operations (the warm-up, the measured one) did transfer: 4 transfers in all.
  if ((await recipientBalance()) - received !== 4n * AMOUNT) throw new Error('the recipient did not get the transfers');

  // The scope's probes: each sent in a snapshot with the range's top callGasLimit, reverted; no gas recorded.
  const probes = [];
  const approveData = encodeFunctionData({ abi: erc20Abi, functionName: 'approve', args: [RECIPIENT, AMOUNT] });
  for (const { probe, callData, before } of [
    { probe: 'wrong recipient', callData: executeCall(transferData(OTHER_RECIPIENT, AMOUNT)) },
    { probe: 'amount 101', callData: executeCall(transferData(RECIPIENT, 101n)) },
    { probe: 'another selector (approve)', callData: executeCall(approveData) },
    {
      probe: 'after the window',
      callData: executeCall(transferData(RECIPIENT, AMOUNT)),
      before: async () => {
        const { timestamp } = await node.getBlock({ blockTag: 'latest' });
        await rpc('evm_increaseTime', [toHex(BigInt(VALID_UNTIL) - timestamp + 1n)]);
        await rpc('evm_mine');
      },
    },
  ]) {
    const entry = await inSnapshot(async () => {
      if (before) await before();
      const outcome = await handleOps(await userOperation(account, callData, CALL_GAS_RANGE[1], sessionSign));
      if (outcome.reverted) {
        return { probe, refused: true, reason: `handleOps reverted: ${outcome.simulated ?? 'status 0'}` };
      }
      if (outcome.event.success) return { probe, refused: false, reason: '' };
      return { probe, refused: true, reason: reason(outcome.revertReason) };
    });
    probes.push(entry);
    log(`probe ${probe}: ${JSON.stringify(entry)}`);
  }

  result = {
    system: `Biconomy Smart Account v2 + SessionKeyManager (account-contracts-v2 ${versions.package})`,
    entryPoint: 'v0.6',
    scope: `SessionKeyManager (Merkle root of session leaves; validUntil ${VALID_UNTIL}, validAfter ${VALID_AFTER}) `
      + 'with ERC20SessionValidationModule, which checks: the call is execute/execute_ncC to the token, value 0, '
      + `the inner call's (address, uint256) arguments are the recipient and at most ${MAX_AMOUNT} units per call `
      + '(no total), the session key signed; not the inner selector',
    measurements,
    probes,
  };
} finally {
  await rpc('evm_revert', [outer]);
}

console.log(JSON.stringify(result, null, 2));
