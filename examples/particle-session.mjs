// Particle Network's own AA SDK (`@particle-network/aa` 2.0.2, unchanged) against keyscope-rpc: only the SDK's RPC
// URL is pointed at the service. It gets the smart account, creates a session (the SDK signs the owner's userOpHash
// with personal_sign, which the owner validator accepts), validates it, and sends a session user operation.
//
//   anvil &                                        # a dev chain
//   cargo run -p keyscope-cli -- deploy            # the Keyscope stack on it
//   (a bundler, e.g. Alto, on the chain)
//   cargo run -p keyscope-rpc -- --rpc-url http://127.0.0.1:8545 --bundler-url http://127.0.0.1:4337 &
//   node examples/particle-session.mjs SERVICE_URL NODE_URL TOKEN
//
// TOKEN is an ERC-20 with a public `mint(address,uint256)` (Keyscope's DemoToken). Each step prints a line; any
// refusal, error or unexpected answer exits non-zero.

// The package's `main` (dist/cjs) is a bundle that exports nothing to Node; its ESM build (`module`) is the SDK.
import { SmartAccount } from '@particle-network/aa/dist/esm/index.mjs';
import { createPublicClient, encodeFunctionData, http, parseAbi } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { check, devChain } from './lib/dev-chain.mjs';

const [serviceUrl = 'http://127.0.0.1:8548', nodeUrl = 'http://127.0.0.1:8545', token] = process.argv.slice(2);
if (!token) throw new Error('usage: node examples/particle-session.mjs SERVICE_URL NODE_URL TOKEN');

/** Biconomy's ERC-20 session validation module: the Particle session shape Keyscope maps onto a permission. */
const ERC20_SVM = '0x000000D50C68705bd6897B2d17c7de32FB519fDA';
const erc20 = parseAbi([
  'function mint(address to, uint256 amount)',
  'function transfer(address to, uint256 amount) returns (bool)',
  'function balanceOf(address owner) view returns (uint256)',
]);

const chainId = await createPublicClient({ transport: http(nodeUrl) }).getChainId();
const { chain, node, funder } = devChain(nodeUrl, chainId);
const owner = privateKeyToAccount(generatePrivateKey());
const sessionKey = privateKeyToAccount(generatePrivateKey());
const recipient = privateKeyToAccount(generatePrivateKey()).address;

// The owner's wallet as an EIP-1193 provider: what the SDK asks of it (chain, accounts, personal_sign).
const provider = {
  on() {
    return this;
  },
  async request({ method, params }) {
    switch (method) {
      case 'eth_chainId':
        return `0x${chainId.toString(16)}`;
      case 'eth_accounts':
      case 'eth_requestAccounts':
        return [owner.address];
      case 'personal_sign':
        return owner.signMessage({ message: { raw: params[0] } });
      default:
        throw new Error(`the wallet does not serve ${method}`);
    }
  },
};

const smartAccount = new SmartAccount(provider, {
  projectId: 'keyscope',
  clientKey: 'keyscope',
  appId: 'keyscope',
  aaOptions: { accountContracts: { KEYSCOPE: [{ version: '0.7', chainIds: [chainId] }] } },
});
// The one change: the SDK's RPC URL is the service's.
smartAccount.connection.defaults.baseURL = serviceUrl;

/** Runs one SDK step; a JSON-RPC error (which the SDK rejects with as is) becomes a readable failure. */
async function step(name, run) {
  try {
    return await run();
  } catch (error) {
    const detail = error?.code !== undefined ? `${error.code} ${error.message} ${JSON.stringify(error.data ?? {})}` : error?.stack ?? error;
    throw new Error(`${name} failed: ${detail}`);
  }
}

async function mine(hash) {
  const receipt = await node.waitForTransactionReceipt({ hash });
  check(receipt.status === 'success', `transaction ${hash} reverted`);
}

// 1. particle_aa_getSmartAccount
const account = await step('getAccount', () => smartAccount.getAccount());
check(/^0x[0-9a-fA-F]{40}$/.test(account?.smartAccountAddress ?? ''), `no smartAccountAddress in ${JSON.stringify(account)}`);
check(account.isDeployed === false, 'a new owner has no account yet');
check(account.chainId === chainId, `chainId ${account.chainId}, expected ${chainId}`);
const address = await step('getAddress', () => smartAccount.getAddress());
check(address === account.smartAccountAddress, 'getAddress disagrees with getAccount');
console.log(`getSmartAccount: ${address} (deployed: ${account.isDeployed}, entryPoint ${account.entryPointAddress})`);

// The account pays its own gas and holds the tokens the session may move.
await mine(await funder.sendTransaction({ to: address, value: 10n ** 18n }));
// It is created here, at the address getSmartAccount answered (owner, salt 0, the session validator installed):
// the pinned Alto's safe mode refuses an owner operation whose initCode creates it (see crates/rpc/README.md).
const factory = parseAbi(['function createAccount(address owner, uint256 salt, address[] extraValidators, bytes[] extraInitData) returns (address)']);
await mine(await funder.writeContract({
  address: account.factoryAddress,
  abi: factory,
  functionName: 'createAccount',
  args: [owner.address, 0n, [account.keyscope.validator], ['0x']],
}));
check((await node.getCode({ address }))?.length > 2, 'the account was not created at getSmartAccount\'s address');
check((await step('getAccount', () => smartAccount.getAccount())).isDeployed === true, 'getSmartAccount: not deployed');
await mine(await funder.writeContract({ address: token, abi: erc20, functionName: 'mint', args: [address, 1000n] }));

// 2. particle_aa_createSessions, then the owner signs (personal_sign) and sends the operation that grants it.
const { timestamp } = await node.getBlock();
const now = Number(timestamp);
const sessionOptions = [{
  validAfter: now - 60, // before the bundler's clock
  validUntil: now + 3600,
  sessionValidationModule: ERC20_SVM,
  sessionKeyDataInAbi: [
    ['address', 'address', 'address', 'uint256'],
    [sessionKey.address, token, recipient, 100],
  ],
}];
const created = await step('createSessions', () => smartAccount.createSessions(sessionOptions));
const bundle = created?.verifyingPaymasterNative;
check(bundle?.userOp && /^0x[0-9a-f]{64}$/i.test(bundle.userOpHash ?? ''), `no verifyingPaymasterNative.{userOp, userOpHash} in ${JSON.stringify(created)}`);
const sessions = created.sessions;
check(Array.isArray(sessions) && sessions.length === 1 && sessions[0].sessionKeyData, 'createSessions answered no sessions');
const sessionId = created.keyscope?.sessions?.[0]?.sessionId;
console.log(`createSessions: session ${sessionId}, owner operation ${bundle.userOpHash}`);
const granted = await step('sendUserOperation (owner)', () => smartAccount.sendUserOperation(bundle));
check(/^0x[0-9a-f]{64}$/i.test(granted ?? ''), `sendUserOp answered ${JSON.stringify(granted)}`);
console.log(`sendUserOp (owner, personal_sign): granted in ${granted}`);

// 3. particle_aa_validateSession
const valid = await step('validateSession', () => smartAccount.validateSession(sessions[0], sessions));
check(valid === true, `validateSession answered ${JSON.stringify(valid)}`);
console.log(`validateSession: ${valid}`);

// 4. A session operation: Keyscope prepares it (the wire format's signature), the session key signs its userOpHash,
//    and the SDK sends it with Particle's {sessions, targetSession}.
const prepareResponse = await fetch(serviceUrl, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'keyscope_prepareSessionOperation',
    params: {
      account: address,
      session: sessionId,
      calls: [{ to: token, data: encodeFunctionData({ abi: erc20, functionName: 'transfer', args: [recipient, 60n] }) }],
    },
  }),
});
const prepared = await prepareResponse.json();
check(!prepared.error, `keyscope_prepareSessionOperation: ${JSON.stringify(prepared.error)}`);
const { userOp, userOpHash } = prepared.result;
const sessionSignature = await sessionKey.sign({ hash: userOpHash });
const sent = await step('sendSignedUserOperation (session)', () =>
  smartAccount.sendSignedUserOperation(
    { ...userOp, signature: sessionSignature, keyscopeSignature: userOp.signature },
    { sessions, targetSession: sessions[0] },
  ),
);
check(/^0x[0-9a-f]{64}$/i.test(sent ?? ''), `sendUserOp answered ${JSON.stringify(sent)}`);
const balance = await node.readContract({ address: token, abi: erc20, functionName: 'balanceOf', args: [recipient] });
check(balance === 60n, `the recipient holds ${balance} tokens, expected 60`);
console.log(`sendUserOp (session): ${userOpHash} in ${sent}: the recipient received ${balance} tokens`);
