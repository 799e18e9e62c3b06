// Grants and uses a Keyscope session through keyscope-rpc only, from JavaScript (viem): no wire format, no
// permission encoding on this side. The service never holds a key: the owner and the session key sign hashes here.
//
//   anvil &                                        # a dev chain
//   cargo run -p keyscope-cli -- deploy            # the Keyscope stack on it (or script/DeployKeyscope.s.sol)
//   cargo run -p keyscope-rpc -- --rpc-url http://127.0.0.1:8545 &
//   node examples/session-over-rpc.mjs [SERVICE_URL] [NODE_URL]
//
// 1. keyscope_createSessions: a new account of a new owner, with a session that may send at most 0.01 ETH per call
//    to one recipient; the owner signs the returned userOpHash (raw, no EIP-191 prefix), and anvil's dev account 1
//    sends the handleOps transaction (keyscope_handleOpsTransaction) that creates the account and grants the session.
// 2. keyscope_prepareSessionOperation → the session key signs userOpHash → keyscope_sendSessionOperation, which
//    sends it through the service's bundler, or answers the handleOps transaction, sent here.

import { formatEther, parseEther, toHex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { devChain, serviceRpc } from './lib/dev-chain.mjs';

const [serviceUrl = 'http://127.0.0.1:8548', nodeUrl = 'http://127.0.0.1:8545'] = process.argv.slice(2);

const rpc = serviceRpc(serviceUrl);

const info = await rpc('keyscope_info', []);
const { chain, node, funder } = devChain(nodeUrl, info.chainId);
const owner = privateKeyToAccount(generatePrivateKey());
const sessionKey = privateKeyToAccount(generatePrivateKey());
const recipient = privateKeyToAccount(generatePrivateKey()).address;

/** Sends a `{to, data}` transaction from the funder; fails unless it succeeds. */
async function send({ to, data }) {
  const hash = await funder.sendTransaction({ to, data, gas: 3_000_000n });
  const receipt = await node.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`transaction ${hash} reverted`);
  return hash;
}

// 1. The owner grants the session (creating the account in the same operation).
const { timestamp } = await node.getBlock();
const created = await rpc('keyscope_createSessions', {
  account: { owner: owner.address, salt: 0, entryPoint: 'v0.7' },
  sessions: [{
    signer: sessionKey.address,
    validAfter: 0,
    validUntil: Number(timestamp) + 3600,
    permissions: [{ target: recipient, native_transfer: true, value_limit: '0.01 ether' }],
  }],
});
const session = created.sessions[0];
console.log(`account ${created.account}, session ${session.sessionId}`);
// The account pays its operations' gas: fund it before its first one.
await node.waitForTransactionReceipt({
  hash: await funder.sendTransaction({ to: created.account, value: parseEther('1') }),
});
const ownerSignature = await owner.sign({ hash: created.userOpHash });
const grant = await rpc('keyscope_handleOpsTransaction', {
  userOp: { ...created.userOp, signature: ownerSignature },
  entryPoint: created.entryPoint,
  beneficiary: funder.account.address,
});
if (!grant.accepted) throw new Error(`the grant would fail: ${JSON.stringify(grant.failure)}`);
console.log(`granted in ${await send(grant)}`);

// 2. The session key sends 0.0005 ETH to the recipient.
const value = parseEther('0.0005');
const prepared = await rpc('keyscope_prepareSessionOperation', {
  account: created.account,
  session: session.sessionId,
  calls: [{ to: recipient, value: toHex(value) }],
});
const sessionSignature = await sessionKey.sign({ hash: prepared.userOpHash });
const sent = await rpc('keyscope_sendSessionOperation', {
  userOp: prepared.userOp,
  signature: sessionSignature,
  beneficiary: funder.account.address,
});
const transaction = sent.sent ? sent.transactionHash : await send(sent.transaction);
const balance = await node.getBalance({ address: recipient });
if (balance !== value) throw new Error(`the recipient has ${formatEther(balance)} ETH`);
console.log(`session operation ${sent.userOpHash} in ${transaction}: the recipient received ${formatEther(balance)} ETH`);
