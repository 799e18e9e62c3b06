// A peer's gas, measured like Keyscope's own (bench/src/main.rs): MetaMask's Delegation Framework, through
// `@metamask/smart-accounts-kit` 2.0.0 (its contracts as the kit deploys them, its accounts, its delegations),
// on a running anvil.
//
//   node bench/peers/metamask.mjs NODE_URL
//
// The same ERC-20 transfer (7 units of Keyscope's DemoToken to 0x5e5e…5e) done two ways by one delegator account, a
// HybridDeleGator whose owner is an EOA:
//
// (a) owner-signed: the delegator's own ERC-4337 UserOperation (`execute` of the transfer), signed by the owner;
// (b) delegation redeemed (scoped like the session): a delegate, itself a HybridDeleGator, sends a UserOperation
//     whose call is `DelegationManager.redeemDelegations` with one delegation from the delegator, signed by the
//     delegator's owner and scoped like a Keyscope session: the kit's `functionCall` scope (AllowedTargets: the
//     token; AllowedMethods: `transfer(address,uint256)`; ValueLte 0, which the scope adds; AllowedCalldata: the
//     `to` argument is the recipient) plus ERC20TransferAmount (at most 100 units in all: the enforcer caps the
//     total transferred under the delegation, not each call) and Timestamp (until 2100-01-01).
//
// The premium of (b) over (a) is what the framework's path costs over the account's own.
//
// Method (Keyscope's): each measured operation is a real `EntryPoint.handleOps` transaction (EntryPoint v0.7, at its
// canonical address) sent by anvil's dev account 0, one operation per transaction, each in its own block (automine);
// steady state (each kind of operation runs once before it is measured, so the nonces, the enforcer's counter and
// both balances are written already; both accounts keep a deposit at the EntryPoint, so no prefund is
// transferred); `preVerificationGas` 0, fees fixed (1 gwei priority, 2 gwei max),
// `verificationGasLimit` 500,000 and the smallest `callGasLimit` under which the operation's call succeeds, found by
// bisection on `evm_snapshot`/`evm_revert` (so the EntryPoint's penalty on unused execution gas, 10 % of what is
// left unused on v0.7, is as small as it gets).
// Recorded: the receipt's `gasUsed`, `UserOperationEvent.actualGasUsed`, the transaction's calldata bytes and the
// `callGasLimit`. Then four probes of the delegation's scope, each sent inside a snapshot and reverted (no gas
// recorded): another recipient, 101 units, `approve` instead of `transfer`, and after the time window.
//
// Whatever is missing is deployed first: the EntryPoint through anvil's CREATE2 deployer (the canonical salt and the
// init code of `@account-abstraction/contracts` 0.7.0), the framework's contracts (`deploySmartAccountsEnvironment`)
// and the token from a fixed deployer key, so every address is the same on every fresh anvil. Every input is fixed
// (keys, salts, amounts, times, fees): two runs give the same figures. The measuring part runs inside a snapshot
// that is reverted at the end, so the node is left as the deployments left it.
//
// Prints one JSON object on stdout; progress on stderr.

// The kit reports its function calls to MetaMask's analytics unless told not to: no network calls off this machine.
process.env.DO_NOT_TRACK = '1';

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  Implementation, createDelegation, toMetaMaskSmartAccount,
} from '@metamask/smart-accounts-kit';
import { deploySmartAccountsEnvironment } from '@metamask/smart-accounts-kit/utils';
import {
  concat, createPublicClient, createWalletClient, decodeErrorResult, decodeEventLog, defineChain, encodeFunctionData,
  erc20Abi, getContractAddress, http, keccak256, pad, parseAbi, parseEther, parseGwei, size, stringToHex, toHex,
} from 'viem';
import { entryPoint07Abi, entryPoint07Address, toPackedUserOperation } from 'viem/account-abstraction';
import { privateKeyToAccount } from 'viem/accounts';

const require = createRequire(import.meta.url);

const nodeUrl = process.argv[2];
if (!nodeUrl) {
  console.error('usage: node bench/peers/metamask.mjs NODE_URL');
  process.exit(2);
}
const log = (...args) => console.error('[metamask]', ...args);

// ---- Fixed inputs ---------------------------------------------------------------------------------------------------

/** A fixed private key: keccak256 of a fixed string. */
const fixedKey = (name) => keccak256(stringToHex(`keyscope.bench.peers.metamask.${name}`));
/** anvil's published dev account 0 (never a secret: every anvil has it): sends handleOps, is its beneficiary. */
const ANVIL_ACCOUNT_0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
/** Deploys the framework and the token (its own nonces, so the addresses do not depend on the node's history). */
const deployer = privateKeyToAccount(fixedKey('deployer'));
/** The delegator's owner and the delegate's owner. */
const owner = privateKeyToAccount(fixedKey('owner'));
const delegateOwner = privateKeyToAccount(fixedKey('delegate'));
const sender = privateKeyToAccount(ANVIL_ACCOUNT_0);

/** Keyscope's bench: the recipient (no zero byte), the amount, the balance minted. */
const RECIPIENT = '0x5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e';
const OTHER_RECIPIENT = '0x6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f';
const AMOUNT = 7n;
const MINTED = 1_000_000n;
/** The delegation's limits: 100 units, until 2100-01-01 (Keyscope's sessions' last second). */
const MAX_AMOUNT = 100n;
const VALID_UNTIL = 4_102_444_800;
/** The operations' gas: Keyscope's bench's settings. */
const VERIFICATION_GAS_LIMIT = 500_000n;
const MAX_PRIORITY_FEE_PER_GAS = parseGwei('1');
const MAX_FEE_PER_GAS = parseGwei('2');
const HANDLE_OPS_GAS = 3_000_000n;
/** The bisection's range for callGasLimit; probes use the top. */
const CALL_GAS_RANGE = [1_000n, 1_000_000n];

// ---- Artifacts ------------------------------------------------------------------------------------------------------

const CREATE2_DEPLOYER = '0x4e59b44847b379578588920ca78fbf26c0b4956c';
const ENTRY_POINT_V07_SALT = '0x90d8084deab30c2a37c45e8d47f49f2f7965183cb6990a98943ef94940681de3';
const entryPointArtifact = require('@account-abstraction/contracts/artifacts/EntryPoint.json');
/** Keyscope's DemoToken (OpenZeppelin's ERC20, anyone may mint), the very bytecode Keyscope's bench deploys. */
const demoToken = JSON.parse(readFileSync(new URL('../../crates/bindings/artifacts/DemoToken.json', import.meta.url)));
const mintAbi = parseAbi(['function mint(address to, uint256 amount)']);

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
    opcode: 'CREATE2', from: CREATE2_DEPLOYER, salt: ENTRY_POINT_V07_SALT, bytecode: entryPointArtifact.bytecode,
  });
  if (predicted !== entryPoint07Address) {
    throw new Error(`the artifact's EntryPoint would be at ${predicted}, not ${entryPoint07Address}`);
  }
  if (await hasCode(entryPoint07Address)) return;
  if (!(await hasCode(CREATE2_DEPLOYER))) throw new Error(`no CREATE2 deployer at ${CREATE2_DEPLOYER}`);
  log('deploying EntryPoint v0.7 through the CREATE2 deployer');
  await transact(senderWallet, {
    to: CREATE2_DEPLOYER, data: concat([ENTRY_POINT_V07_SALT, entryPointArtifact.bytecode]), gas: 8_000_000n,
  });
  if (!(await hasCode(entryPoint07Address))) throw new Error('the EntryPoint was not deployed');
}

/**
 * The framework's environment as `deploySmartAccountsEnvironment` makes it from the deployer's first nonces: the kit
 * itself is run against clients that only count nonces, so its order of deployment is the kit's, not a copy of it.
 */
async function predictedEnvironment() {
  let nonce = 0n;
  const countingWallet = {
    account: deployer,
    deployContract: async () => toHex(nonce++, { size: 32 }),
  };
  const countingNode = {
    waitForTransactionReceipt: async ({ hash }) => ({
      contractAddress: getContractAddress({ from: deployer.address, nonce: BigInt(hash) }),
    }),
  };
  const environment = await deploySmartAccountsEnvironment(
    countingWallet, countingNode, chain, { EntryPoint: entryPoint07Address },
  );
  return { environment, nonces: nonce };
}

async function ensureFramework() {
  const { environment, nonces } = await predictedEnvironment();
  const tokenAddress = getContractAddress({ from: deployer.address, nonce: nonces });
  const deployed = await node.getTransactionCount({ address: deployer.address });
  if (deployed === 0) {
    log('deploying the Delegation Framework (deploySmartAccountsEnvironment) and the token');
    await rpc('anvil_setBalance', [deployer.address, toHex(parseEther('100'))]);
    const actual = await deploySmartAccountsEnvironment(
      deployerWallet, node, chain, { EntryPoint: entryPoint07Address },
    );
    if (JSON.stringify(actual).toLowerCase() !== JSON.stringify(environment).toLowerCase()) {
      throw new Error('the framework is not where it was expected');
    }
    const hash = await deployerWallet.deployContract({
      abi: demoToken.abi, bytecode: demoToken.bytecode, nonce: Number(nonces),
    });
    await node.waitForTransactionReceipt({ hash });
  }
  for (const address of [
    environment.DelegationManager, environment.implementations.HybridDeleGatorImpl, environment.SimpleFactory,
    ...Object.values(environment.caveatEnforcers), tokenAddress,
  ]) {
    if (!(await hasCode(address))) {
      throw new Error(`no code at ${address}: the deployer ${deployer.address} was used for something else`);
    }
  }
  return { environment, token: tokenAddress };
}

// ---- Accounts and operations ----------------------------------------------------------------------------------------

/** A HybridDeleGator of `signer` (no passkey), deployed through the kit's factory and funded. */
async function smartAccount(environment, signer, salt) {
  const account = await toMetaMaskSmartAccount({
    client: node,
    implementation: Implementation.Hybrid,
    deployParams: [signer.address, [], [], []],
    deploySalt: salt,
    signer: { account: signer },
    environment,
  });
  if (!(await hasCode(account.address))) {
    const { factory, factoryData } = await account.getFactoryArgs();
    await transact(senderWallet, { to: factory, data: factoryData, gas: 2_000_000n });
  }
  await rpc('anvil_setBalance', [account.address, toHex(parseEther('10'))]);
  // A deposit at the EntryPoint, as Keyscope's bench gives its accounts: no measured operation transfers a prefund.
  const deposit = await node.readContract({
    address: entryPoint07Address, abi: entryPoint07Abi, functionName: 'balanceOf', args: [account.address],
  });
  if (deposit === 0n) {
    await transact(senderWallet, {
      to: entryPoint07Address,
      data: encodeFunctionData({ abi: entryPoint07Abi, functionName: 'depositTo', args: [account.address] }),
      value: parseEther('0.1'),
    });
  }
  return account;
}

/** The operation of `account` calling `callData`, signed, with `callGasLimit`; its nonce read from the EntryPoint. */
async function userOperation(account, callData, callGasLimit) {
  const nonce = await node.readContract({
    address: entryPoint07Address, abi: entryPoint07Abi, functionName: 'getNonce', args: [account.address, 0n],
  });
  const userOp = {
    sender: account.address,
    nonce,
    callData,
    callGasLimit,
    verificationGasLimit: VERIFICATION_GAS_LIMIT,
    preVerificationGas: 0n,
    maxFeePerGas: MAX_FEE_PER_GAS,
    maxPriorityFeePerGas: MAX_PRIORITY_FEE_PER_GAS,
  };
  return { ...userOp, signature: await account.signUserOperation({ ...userOp, chainId }) };
}

/**
 * Sends `handleOps([op])` from dev account 0 (explicit nonce, read from the node) and returns its outcome: the
 * receipt, `UserOperationEvent` and `UserOperationRevertReason` if any. `reverted` when handleOps itself reverts.
 */
async function handleOps(op) {
  const data = encodeFunctionData({
    abi: entryPoint07Abi, functionName: 'handleOps', args: [[toPackedUserOperation(op)], sender.address],
  });
  const nonce = await node.getTransactionCount({ address: sender.address, blockTag: 'latest' });
  let hash;
  try {
    hash = await senderWallet.sendTransaction({ to: entryPoint07Address, data, gas: HANDLE_OPS_GAS, nonce });
  } catch (error) {
    return { reverted: true, error };
  }
  const receipt = await node.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') return { reverted: true, receipt };
  let event;
  let revertReason;
  for (const entry of receipt.logs) {
    if (entry.address.toLowerCase() !== entryPoint07Address.toLowerCase()) continue;
    try {
      const decoded = decodeEventLog({ abi: entryPoint07Abi, data: entry.data, topics: entry.topics });
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

/** A revert reason, decoded if it is an Error(string) or one of the framework's custom errors. */
const { DelegationManager: delegationManagerAbi, HybridDeleGator: hybridAbi } = require('@metamask/delegation-abis');
function reason(data) {
  if (!data || data === '0x') return 'no revert data';
  for (const abi of [[], delegationManagerAbi, hybridAbi, entryPoint07Abi]) {
    try {
      const decoded = decodeErrorResult({ abi, data });
      return decoded.args?.length ? `${decoded.errorName}(${decoded.args.map(String).join(', ')})` : decoded.errorName;
    } catch { /* next */ }
  }
  return data;
}

// ---- The scenarios --------------------------------------------------------------------------------------------------

await ensureEntryPoint();
const { environment, token } = await ensureFramework();
log(`EntryPoint ${entryPoint07Address}, DelegationManager ${environment.DelegationManager}, token ${token}`);

const outer = await rpc('evm_snapshot');
let result;
try {
  const delegator = await smartAccount(environment, owner, pad('0x01', { size: 32 }));
  const delegate = await smartAccount(environment, delegateOwner, pad('0x02', { size: 32 }));
  const held = await node.readContract({
    address: token, abi: erc20Abi, functionName: 'balanceOf', args: [delegator.address],
  });
  if (held < MINTED) {
    await transact(senderWallet, {
      to: token, data: encodeFunctionData({ abi: mintAbi, functionName: 'mint', args: [delegator.address, MINTED] }),
      gas: 200_000n,
    });
  }
  log(`delegator ${delegator.address}, delegate ${delegate.address}`);

  // The delegation, scoped like Keyscope's session, built by the kit and signed by the delegator's owner.
  const unsigned = createDelegation({
    environment,
    from: delegator.address,
    to: delegate.address,
    scope: {
      type: 'functionCall',
      targets: [token],
      selectors: ['transfer(address,uint256)'],
      // `to` is the first argument: calldata bytes 4..36.
      allowedCalldata: [{ startIndex: 4, value: pad(RECIPIENT, { size: 32 }) }],
    },
    caveats: [
      { type: 'erc20TransferAmount', tokenAddress: token, maxAmount: MAX_AMOUNT },
      { type: 'timestamp', afterThreshold: 0, beforeThreshold: VALID_UNTIL },
    ],
    salt: '0x01',
  });
  const delegation = { ...unsigned, signature: await delegator.signDelegation({ delegation: unsigned }) };
  const caveatNames = Object.fromEntries(
    Object.entries(environment.caveatEnforcers).map(([name, address]) => [address.toLowerCase(), name]),
  );
  const scope = delegation.caveats.map((caveat) => caveatNames[caveat.enforcer.toLowerCase()]).join(', ');
  log(`delegation caveats: ${scope}`);

  const transferData = (to, amount) => encodeFunctionData({
    abi: erc20Abi, functionName: 'transfer', args: [to, amount],
  });
  /** The delegator's own call: execute(transfer). */
  const ownCall = (data) => delegator.encodeCalls([{ to: token, data }]);
  /** The delegate's call: execute(DelegationManager.redeemDelegations([[delegation]], [single], [transfer])). */
  const redeemCall = (data) => delegate.encodeCalls([{
    to: token, data, permissionContext: [delegation], delegationManager: environment.DelegationManager,
  }]);

  const scenarios = [
    { scenario: 'owner-signed', account: delegator, callData: await ownCall(transferData(RECIPIENT, AMOUNT)) },
    {
      scenario: 'delegation redeemed (scoped like the session)',
      account: delegate,
      callData: await redeemCall(transferData(RECIPIENT, AMOUNT)),
    },
  ];

  /** Sends the operation for real (in its own block); throws unless its call succeeded. */
  async function send(account, callData, callGasLimit) {
    const outcome = await handleOps(await userOperation(account, callData, callGasLimit));
    if (outcome.reverted || !outcome.event.success) {
      const why = outcome.reverted ? 'handleOps reverted' : reason(outcome.revertReason);
      throw Object.assign(new Error(`the operation failed: ${why}`), { outcome });
    }
    return outcome;
  }
  /** Whether the call succeeds with `callGasLimit` (sent in a snapshot, reverted). */
  const succeeds = (account, callData, callGasLimit) => inSnapshot(async () => {
    const outcome = await handleOps(await userOperation(account, callData, callGasLimit));
    return !outcome.reverted && outcome.event.success;
  });

  const recipientBalance = () => node.readContract({
    address: token, abi: erc20Abi, functionName: 'balanceOf', args: [RECIPIENT],
  });
  const received = await recipientBalance();
  const measurements = [];
  for (const { scenario, account, callData } of scenarios) {
    log(`${scenario}: measuring`);
    // Steady state: the nonce, the enforcer's counter and the balances are written once first.
    await send(account, callData, CALL_GAS_RANGE[1]);
    let [low, high] = CALL_GAS_RANGE;
    if (!(await succeeds(account, callData, high))) throw new Error(`${scenario} fails even with callGasLimit ${high}`);
    // Invariant: `high` succeeds, `low` fails (or is the range's floor).
    while (high - low > 1n) {
      const middle = low + (high - low) / 2n;
      if (await succeeds(account, callData, middle)) high = middle;
      else low = middle;
    }
    const outcome = await send(account, callData, high);
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
    { probe: 'wrong recipient', callData: await redeemCall(transferData(OTHER_RECIPIENT, AMOUNT)) },
    { probe: 'amount 101', callData: await redeemCall(transferData(RECIPIENT, 101n)) },
    { probe: 'another selector (approve)', callData: await redeemCall(approveData) },
    {
      probe: 'after the window',
      callData: await redeemCall(transferData(RECIPIENT, AMOUNT)),
      before: async () => {
        const { timestamp } = await node.getBlock({ blockTag: 'latest' });
        await rpc('evm_increaseTime', [toHex(BigInt(VALID_UNTIL) - timestamp + 1n)]);
      },
    },
  ]) {
    const entry = await inSnapshot(async () => {
      if (before) await before();
      const outcome = await handleOps(await userOperation(delegate, callData, CALL_GAS_RANGE[1]));
      if (outcome.reverted) {
        return { probe, refused: true, reason: `handleOps reverted: ${outcome.error?.shortMessage ?? 'status 0'}` };
      }
      if (outcome.event.success) return { probe, refused: false, reason: '' };
      return { probe, refused: true, reason: reason(outcome.revertReason) };
    });
    probes.push(entry);
    log(`probe ${probe}: ${JSON.stringify(entry)}`);
  }

  result = {
    system: 'MetaMask Delegation Framework (smart-accounts-kit 2.0.0)',
    entryPoint: 'v0.7',
    scope: `${scope} (target: the token; selector: transfer(address,uint256); value 0; to == recipient; `
      + `at most ${MAX_AMOUNT} units in all under the delegation; until ${VALID_UNTIL})`,
    measurements,
    probes,
  };
} finally {
  await rpc('evm_revert', [outer]);
}

console.log(JSON.stringify(result, null, 2));
