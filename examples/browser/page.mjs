// The page's script (bundled for the browser by examples/browser/run.mjs): a dapp on its own origin that grants a
// session and uses it through keyscope-rpc on another origin, with viem only. Every call to the service crosses
// origins, so it needs the service's CORS (`--cors-origin`); the node (anvil) allows any origin.
//
// 1. keyscope_info and wallet_getSupportedExecutionPermissions through viem's http transport.
// 2. wallet_requestExecutionPermissions: an erc20-token-allowance of 100 units for a session key made here.
// 3. The owner signs the returned operation's userOpHash; keyscope_handleOpsTransaction; anvil's dev account 1 sends.
// 4. The session key transfers 25 units: keyscope_prepareSessionOperation → sign → keyscope_sendSessionOperation.
// 5. The recipient's balance, read from the node.
//
// Each step is shown in the page and reported to the page's own server (POST /log); the outcome goes to
// POST /result.

import { createClient, encodeFunctionData, erc20Abi, http, toHex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { check, devChain } from '../lib/dev-chain.mjs';

const params = new URLSearchParams(location.hash.slice(1));
const [serviceUrl, nodeUrl, accountAddress, ownerKey, token] = ['service', 'node', 'account', 'owner', 'token'].map(
  (name) => params.get(name),
);

/** POSTs `body` as JSON to the page's own server. */
async function report(path, body) {
  await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Shows `text` in the page and reports it. */
async function step(text) {
  const item = document.createElement('li');
  item.textContent = text;
  document.getElementById('steps').append(item);
  await report('/log', { text });
}

async function main() {
  check(serviceUrl && nodeUrl && accountAddress && ownerKey && token, 'missing parameters in the fragment');
  // viem's own transport to the service: a cross-origin fetch with `content-type: application/json` (preflighted).
  const service = createClient({ transport: http(serviceUrl) });
  const rpc = (method, params) => service.request({ method, params });

  const info = await rpc('keyscope_info', []);
  const { chain, node, funder } = devChain(nodeUrl, info.chainId);
  const supported = await rpc('wallet_getSupportedExecutionPermissions', []);
  check(supported['erc20-token-allowance']?.chainIds?.includes(toHex(chain.id)), `supported: ${JSON.stringify(supported)}`);
  await step(`${location.origin} → ${new URL(serviceUrl).origin}: keyscope_info (chain ${chain.id}), wallet_getSupportedExecutionPermissions`);

  const owner = privateKeyToAccount(ownerKey);
  const sessionKey = privateKeyToAccount(generatePrivateKey());
  const recipient = privateKeyToAccount(generatePrivateKey()).address;
  const [granted] = await rpc('wallet_requestExecutionPermissions', [{
    chainId: toHex(chain.id),
    from: accountAddress,
    to: sessionKey.address,
    permission: {
      type: 'erc20-token-allowance',
      isAdjustmentAllowed: false,
      data: { tokenAddress: token, allowanceAmount: toHex(100n) },
    },
  }]);
  check(granted.context.startsWith('0x01'), `context ${granted.context}`);
  await step(`wallet_requestExecutionPermissions: erc20-token-allowance 100 for session key ${sessionKey.address}`);

  /** Sends a `{to, data}` transaction the service answered from anvil's dev account 1; waits for success. */
  async function funderSends(tx) {
    const hash = await funder.sendTransaction({ to: tx.to, data: tx.data, gas: 3_000_000n });
    const receipt = await node.waitForTransactionReceipt({ hash });
    check(receipt.status === 'success', `transaction ${hash} reverted`);
    return hash;
  }
  const operation = granted.keyscope;
  const handleOps = await rpc('keyscope_handleOpsTransaction', {
    userOp: { ...operation.userOp, signature: await owner.sign({ hash: operation.userOpHash }) },
    entryPoint: operation.entryPoint,
    beneficiary: funder.account.address,
  });
  check(handleOps.accepted, `the owner's operation would fail: ${JSON.stringify(handleOps.failure)}`);
  await step(`the owner signed; granted in ${await funderSends(handleOps)}`);

  const prepared = await rpc('keyscope_prepareSessionOperation', {
    account: accountAddress,
    session: operation.sessionId,
    calls: [{ to: token, data: encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [recipient, 25n] }) }],
  });
  const sent = await rpc('keyscope_sendSessionOperation', {
    userOp: prepared.userOp,
    signature: await sessionKey.sign({ hash: prepared.userOpHash }),
    beneficiary: funder.account.address,
  });
  await step(`the session key signed; sent in ${sent.sent ? sent.transactionHash : await funderSends(sent.transaction)}`);

  const balance = await node.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [recipient] });
  check(balance === 25n, `the recipient has ${balance}`);
  await step(`the recipient received ${balance} tokens`);
}

main().then(
  () => report('/result', { ok: true }),
  (error) => report('/result', { ok: false, error: String(error?.stack ?? error) }),
);
