// What the peers' scripts (bench/peers/metamask.mjs, bench/peers/biconomy.mjs) share: their fixed inputs, the clients
// on the node, the deployments through anvil's CREATE2 deployer and from a fixed deployer key, `handleOps`, and the
// method itself (the measuring of each scenario and the probes of its scope). Each script passes what differs: its
// name (log prefix and keys), its EntryPoint (address, ABI, salt, artifact, version) and its errors' ABIs.
//
// Method (Keyscope's, bench/src/main.rs): each measured operation is a real `EntryPoint.handleOps` transaction (the
// EntryPoint at its canonical address) sent by anvil's dev account 0, one operation per transaction, each in its own
// block (automine); steady state (each kind of operation runs once before it is measured, so the nonces, any counter
// the scope keeps and the balances are written already; the accounts keep a deposit at the EntryPoint, so no prefund
// is transferred); `preVerificationGas` 0, fees fixed (1 gwei priority, 2 gwei max), `verificationGasLimit` 500,000
// and the smallest `callGasLimit` under which the operation's call succeeds, found by bisection on
// `evm_snapshot`/`evm_revert` (so the EntryPoint's penalty on unused execution gas, where it has one, is as small as it
// gets). Recorded: the receipt's `gasUsed`, `UserOperationEvent.actualGasUsed`, the transaction's calldata bytes and
// the `callGasLimit`. Then four probes of the scope, each sent inside a snapshot and reverted (no gas recorded):
// another recipient, 101 units, `approve` instead of `transfer`, and after the time window.
//
// Whatever is missing is deployed first: the EntryPoint through anvil's CREATE2 deployer, the system's contracts and
// the token from a fixed deployer key, so every address is the same on every fresh anvil. Every input is fixed (keys,
// salts, amounts, times, fees): two runs give the same figures. The measuring part runs inside a snapshot that is
// reverted at the end, so the node is left as the deployments left it. One JSON object is printed on stdout; progress
// on stderr.

import { readFileSync } from 'node:fs';
import {
  concat, createPublicClient, createWalletClient, decodeErrorResult, decodeEventLog, defineChain, encodeFunctionData,
  erc20Abi, getContractAddress, http, keccak256, parseAbi, parseEther, parseGwei, size, stringToHex, toHex,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

// ---- Fixed inputs ---------------------------------------------------------------------------------------------------

/** anvil's published dev account 0 (never a secret: every anvil has it): sends handleOps, is its beneficiary. */
const ANVIL_ACCOUNT_0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

/** Keyscope's bench: the recipient (no zero byte), the amount, the balance minted. */
export const RECIPIENT = '0x5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e';
export const OTHER_RECIPIENT = '0x6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f';
export const AMOUNT = 7n;
const MINTED = 1_000_000n;
/** The scope's limits: 100 units, until 2100-01-01 (Keyscope's sessions' last second). */
export const MAX_AMOUNT = 100n;
export const VALID_UNTIL = 4_102_444_800;
/** The operations' gas: Keyscope's bench's settings. */
const VERIFICATION_GAS_LIMIT = 500_000n;
const MAX_PRIORITY_FEE_PER_GAS = parseGwei('1');
const MAX_FEE_PER_GAS = parseGwei('2');
const HANDLE_OPS_GAS = 3_000_000n;
/** The bisection's range for callGasLimit; probes use the top. */
export const CALL_GAS_RANGE = [1_000n, 1_000_000n];

// ---- Artifacts ------------------------------------------------------------------------------------------------------

const CREATE2_DEPLOYER = '0x4e59b44847b379578588920ca78fbf26c0b4956c';
/** Keyscope's DemoToken (OpenZeppelin's ERC20, anyone may mint), the very bytecode Keyscope's bench deploys. */
const demoToken = JSON.parse(readFileSync(new URL('../../crates/bindings/artifacts/DemoToken.json', import.meta.url)));
const mintAbi = parseAbi(['function mint(address to, uint256 amount)']);

/** An operation's call and gas fields, in the order of both EntryPoints' operations. */
export const callAndGas = (callData, callGasLimit) => ({
  callData,
  callGasLimit,
  verificationGasLimit: VERIFICATION_GAS_LIMIT,
  preVerificationGas: 0n,
  maxFeePerGas: MAX_FEE_PER_GAS,
  maxPriorityFeePerGas: MAX_PRIORITY_FEE_PER_GAS,
});

/** The transfer's calldata. */
export const transferData = (to, amount) => encodeFunctionData({
  abi: erc20Abi, functionName: 'transfer', args: [to, amount],
});

/** A revert reason, decoded if it is an Error(string) or an error of one of `abis`. */
function decodeReason(data, abis) {
  if (!data || data === '0x') return 'no revert data';
  for (const abi of [[], ...abis]) {
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
 * The peer `name` (its log prefix, its keys `keyscope.bench.peers.<name>.*`) on the node given on the command line,
 * with its EntryPoint: `{ address, abi, salt, artifact, version, pack }` (`pack` turns an operation into handleOps'
 * argument). `errorAbis`: the ABIs whose errors `reason` decodes. `simulate`: handleOps is first run by an `eth_call`,
 * whose revert reason is kept (a reverted transaction's receipt has no revert data).
 */
export async function peer({ name, entryPoint, errorAbis, simulate = false }) {
  const nodeUrl = process.argv[2];
  if (!nodeUrl) {
    console.error(`usage: node bench/peers/${name}.mjs NODE_URL`);
    process.exit(2);
  }
  const log = (...args) => console.error(`[${name}]`, ...args);

  /** A fixed private key: keccak256 of a fixed string. */
  const fixedKey = (key) => keccak256(stringToHex(`keyscope.bench.peers.${name}.${key}`));
  /** Deploys the system's contracts and the token (its own nonces: the addresses do not depend on the history). */
  const deployer = privateKeyToAccount(fixedKey('deployer'));
  const sender = privateKeyToAccount(ANVIL_ACCOUNT_0);

  // ---- Clients ------------------------------------------------------------------------------------------------------

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

  // ---- Deployments (whatever is missing) ----------------------------------------------------------------------------

  async function hasCode(address) {
    const code = await node.getCode({ address });
    return code !== undefined && code !== '0x';
  }

  async function ensureEntryPoint() {
    const { address, salt, artifact, version } = entryPoint;
    const predicted = getContractAddress({
      opcode: 'CREATE2', from: CREATE2_DEPLOYER, salt, bytecode: artifact.bytecode,
    });
    if (predicted !== address) {
      throw new Error(`the artifact's EntryPoint would be at ${predicted}, not ${address}`);
    }
    if (await hasCode(address)) return;
    if (!(await hasCode(CREATE2_DEPLOYER))) throw new Error(`no CREATE2 deployer at ${CREATE2_DEPLOYER}`);
    log(`deploying EntryPoint ${version} through the CREATE2 deployer`);
    await transact(senderWallet, {
      to: CREATE2_DEPLOYER, data: concat([salt, artifact.bytecode]), gas: 8_000_000n,
    });
    if (!(await hasCode(address))) throw new Error('the EntryPoint was not deployed');
  }

  /**
   * Unless the deployer has sent anything yet: funds it, runs `deploy()` (which uses its nonces up to `tokenNonce`)
   * and deploys the token at `tokenNonce`. Then checks there is code at each of `addresses` and at the token; returns
   * the token's address.
   */
  async function ensureDeployments({ message, deploy, tokenNonce, addresses }) {
    const token = getContractAddress({ from: deployer.address, nonce: BigInt(tokenNonce) });
    const deployed = await node.getTransactionCount({ address: deployer.address });
    if (deployed === 0) {
      log(message);
      await rpc('anvil_setBalance', [deployer.address, toHex(parseEther('100'))]);
      await deploy();
      const hash = await deployerWallet.deployContract({
        abi: demoToken.abi, bytecode: demoToken.bytecode, nonce: Number(tokenNonce),
      });
      await node.waitForTransactionReceipt({ hash });
    }
    for (const address of [...addresses, token]) {
      if (!(await hasCode(address))) {
        throw new Error(`no code at ${address}: the deployer ${deployer.address} was used for something else`);
      }
    }
    return token;
  }

  // ---- Accounts and operations --------------------------------------------------------------------------------------

  /** Gives `account` 10 ETH and, unless it has one, a deposit at the EntryPoint (as Keyscope's bench does). */
  async function fund(account) {
    await rpc('anvil_setBalance', [account, toHex(parseEther('10'))]);
    // No measured operation transfers a prefund.
    const deposit = await node.readContract({
      address: entryPoint.address, abi: entryPoint.abi, functionName: 'balanceOf', args: [account],
    });
    if (deposit === 0n) {
      await transact(senderWallet, {
        to: entryPoint.address,
        data: encodeFunctionData({ abi: entryPoint.abi, functionName: 'depositTo', args: [account] }),
        value: parseEther('0.1'),
      });
    }
  }

  /** Mints the token to `holder` unless it holds enough already. */
  async function mint(token, holder) {
    const held = await node.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [holder] });
    if (held < MINTED) {
      await transact(senderWallet, {
        to: token, data: encodeFunctionData({ abi: mintAbi, functionName: 'mint', args: [holder, MINTED] }),
        gas: 200_000n,
      });
    }
  }

  /** The account's EntryPoint nonce (key 0). */
  const nonceOf = (account) => node.readContract({
    address: entryPoint.address, abi: entryPoint.abi, functionName: 'getNonce', args: [account, 0n],
  });

  const reason = (data) => decodeReason(data, errorAbis);

  /**
   * Sends `handleOps([op])` from dev account 0 (explicit nonce, read from the node) and returns its outcome: the
   * receipt, `UserOperationEvent` and `UserOperationRevertReason` if any. `reverted` when handleOps itself reverts
   * (with, if `simulate`, the reason an `eth_call` of the same transaction gave just before it was sent).
   */
  async function handleOps(op) {
    const data = encodeFunctionData({
      abi: entryPoint.abi, functionName: 'handleOps', args: [[entryPoint.pack(op)], sender.address],
    });
    let simulated;
    if (simulate) {
      try {
        await node.call({ account: sender.address, to: entryPoint.address, data, gas: HANDLE_OPS_GAS });
      } catch (error) {
        simulated = reason(revertData(error));
      }
    }
    const nonce = await node.getTransactionCount({ address: sender.address, blockTag: 'latest' });
    let hash;
    try {
      hash = await senderWallet.sendTransaction({ to: entryPoint.address, data, gas: HANDLE_OPS_GAS, nonce });
    } catch (error) {
      return { reverted: true, error, simulated };
    }
    const receipt = await node.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') return { reverted: true, receipt, simulated };
    let event;
    let revertReason;
    for (const entry of receipt.logs) {
      if (entry.address.toLowerCase() !== entryPoint.address.toLowerCase()) continue;
      try {
        const decoded = decodeEventLog({ abi: entryPoint.abi, data: entry.data, topics: entry.topics });
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

  /** Sends the operation `makeOp()` gives for real (in its own block); throws unless its call succeeded. */
  async function send(makeOp) {
    const outcome = await handleOps(await makeOp());
    if (outcome.reverted || !outcome.event.success) {
      const why = outcome.reverted
        ? `handleOps reverted${outcome.simulated === undefined ? '' : `: ${outcome.simulated}`}`
        : reason(outcome.revertReason);
      throw Object.assign(new Error(`the operation failed: ${why}`), { outcome });
    }
    return outcome;
  }

  /** Whether the call of the operation `makeOp()` gives succeeds (sent in a snapshot, reverted). */
  const succeeds = (makeOp) => inSnapshot(async () => {
    const outcome = await handleOps(await makeOp());
    return !outcome.reverted && outcome.event.success;
  });

  // ---- The method ---------------------------------------------------------------------------------------------------

  /**
   * Measures each of `scenarios` (`{ scenario, ... }`; `operation(entry, callGasLimit)` gives its operation): a
   * warm-up, the bisection of the smallest callGasLimit, the measured operation. Each transfers AMOUNT of `token` to
   * RECIPIENT, which is checked.
   */
  async function measure(token, scenarios, operation) {
    const recipientBalance = () => node.readContract({
      address: token, abi: erc20Abi, functionName: 'balanceOf', args: [RECIPIENT],
    });
    const received = await recipientBalance();
    const measurements = [];
    for (const entry of scenarios) {
      const { scenario } = entry;
      const op = (callGasLimit) => () => operation(entry, callGasLimit);
      log(`${scenario}: measuring`);
      // Steady state: the nonce, the scope's counters if any and the balances are written once first.
      await send(op(CALL_GAS_RANGE[1]));
      let [low, high] = CALL_GAS_RANGE;
      if (!(await succeeds(op(high)))) throw new Error(`${scenario} fails even with callGasLimit ${high}`);
      // Invariant: `high` succeeds, `low` fails (or is the range's floor).
      while (high - low > 1n) {
        const middle = low + (high - low) / 2n;
        if (await succeeds(op(middle))) high = middle;
        else low = middle;
      }
      const outcome = await send(op(high));
      measurements.push({
        scenario,
        gasUsed: Number(outcome.receipt.gasUsed),
        actualGasUsed: Number(outcome.event.actualGasUsed),
        calldataBytes: outcome.calldataBytes,
        callGasLimit: Number(high),
      });
      log(`${scenario}: ${JSON.stringify(measurements.at(-1))}`);
    }
    // Each scenario's two operations (the warm-up, the measured one) did transfer: 2 per scenario.
    if ((await recipientBalance()) - received !== BigInt(2 * scenarios.length) * AMOUNT) {
      throw new Error('the recipient did not get the transfers');
    }
    return measurements;
  }

  /**
   * The scope's probes: `wrap(inner)` is the account's call of the token with `inner`, `operation(callData,
   * callGasLimit)` the operation that makes it. Each is sent in a snapshot with the range's top callGasLimit, reverted;
   * no gas recorded. After the window: the clock moved past VALID_UNTIL (and, if `mine`, one block mined).
   * `revertedReason(outcome)`: what is said when handleOps itself reverts.
   */
  async function probe({ wrap, operation, mine = false, revertedReason }) {
    const probes = [];
    const approveData = encodeFunctionData({ abi: erc20Abi, functionName: 'approve', args: [RECIPIENT, AMOUNT] });
    for (const { probe: name, callData, before } of [
      { probe: 'wrong recipient', callData: await wrap(transferData(OTHER_RECIPIENT, AMOUNT)) },
      { probe: 'amount 101', callData: await wrap(transferData(RECIPIENT, 101n)) },
      { probe: 'another selector (approve)', callData: await wrap(approveData) },
      {
        probe: 'after the window',
        callData: await wrap(transferData(RECIPIENT, AMOUNT)),
        before: async () => {
          const { timestamp } = await node.getBlock({ blockTag: 'latest' });
          await rpc('evm_increaseTime', [toHex(BigInt(VALID_UNTIL) - timestamp + 1n)]);
          if (mine) await rpc('evm_mine');
        },
      },
    ]) {
      const entry = await inSnapshot(async () => {
        if (before) await before();
        const outcome = await handleOps(await operation(callData, CALL_GAS_RANGE[1]));
        if (outcome.reverted) {
          return { probe: name, refused: true, reason: `handleOps reverted: ${revertedReason(outcome) ?? 'status 0'}` };
        }
        if (outcome.event.success) return { probe: name, refused: false, reason: '' };
        return { probe: name, refused: true, reason: reason(outcome.revertReason) };
      });
      probes.push(entry);
      log(`probe ${name}: ${JSON.stringify(entry)}`);
    }
    return probes;
  }

  /** Runs `body` inside a snapshot reverted at the end and prints the result it returns. */
  async function run(body) {
    const outer = await rpc('evm_snapshot');
    let result;
    try {
      result = await body();
    } finally {
      await rpc('evm_revert', [outer]);
    }
    console.log(JSON.stringify(result, null, 2));
  }

  return {
    log, fixedKey, deployer, chainId, chain, node, senderWallet, deployerWallet, transact, hasCode, ensureEntryPoint,
    ensureDeployments, fund, mint, nonceOf, send, measure, probe, run,
  };
}
