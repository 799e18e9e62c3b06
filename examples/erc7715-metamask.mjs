// ERC-7715 through keyscope-rpc with MetaMask's own client, unchanged: `erc7715ProviderActions()` of
// `@metamask/smart-accounts-kit` 2.0.0 on a viem client whose transport points at the service (with the caller's API
// key in the `Authorization` header). The service never holds a key: the owner and the session key sign hashes here.
//
//   node examples/erc7715-metamask.mjs SERVICE_URL NODE_URL API_KEY ACCOUNT OWNER_PRIVATE_KEY TOKEN
//
// ACCOUNT is a deployed, funded KeyscopeAccount of OWNER_PRIVATE_KEY holding at least 300 units of TOKEN (an ERC-20).
//
// 1. getSupportedExecutionPermissions: native-token-allowance and erc20-token-allowance on this chain.
// 2. requestExecutionPermissions: a native-token allowance (0.01 ETH) and an erc20-token allowance (300 units) for a
//    new session key; the kit parses the answers (chainId, allowanceAmount as bigint, context). The owner signs the
//    one operation the service built (its `keyscope` extension), anvil's dev account 1 sends the handleOps transaction.
// 3. getGrantedExecutionPermissions (the kit sends `params: []`): the service lists the grants of the caller's API key.
// 4. The session key spends 0.0005 ETH and 200 tokens within the allowances (keyscope_prepareSessionOperation → sign
//    → keyscope_sendSessionOperation).
// 5. The kit has no revoke action: wallet_revokeExecutionPermission through the same viem client, the owner signs,
//    and getGrantedExecutionPermissions lists only the ERC-20 allowance.
// 6. requestExecutionPermissions: an erc20-token-periodic allowance (50 units per hour) with the kit's `redeemer`
//    (the session key) and `payee` (one recipient) rules; the kit parses the answer (periodAmount as bigint, both
//    rules); once the owner sent it, the session key pays the payee 20 units, and a transfer to anyone else is refused
//    (-32500, ArgumentRuleFailed).
//
// Prints each step; exits non-zero on any refusal or unexpected answer.

// The kit reports its function calls to MetaMask's analytics unless told not to: no network calls off this machine.
process.env.DO_NOT_TRACK = '1';

import { erc7715ProviderActions } from '@metamask/smart-accounts-kit/actions';
import {
  createClient, encodeFunctionData, erc20Abi, formatEther, http, parseEther,
  toHex,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { check, devChain, serviceRpc } from './lib/dev-chain.mjs';

const [serviceUrl, nodeUrl, apiKey, accountAddress, ownerKey, token] = process.argv.slice(2);
if (!token) {
  console.error('usage: node examples/erc7715-metamask.mjs SERVICE_URL NODE_URL API_KEY ACCOUNT OWNER_PRIVATE_KEY TOKEN');
  process.exit(2);
}
const headers = { Authorization: `Bearer ${apiKey}` };

// The service's Keyscope methods, which the kit does not know.
const rpc = serviceRpc(serviceUrl, headers);

const info = await rpc('keyscope_info', []);
const { chain, node, funder } = devChain(nodeUrl, info.chainId);
const owner = privateKeyToAccount(ownerKey);
const sessionKey = privateKeyToAccount(generatePrivateKey());
const recipient = privateKeyToAccount(generatePrivateKey()).address;

// The kit's client: viem's http transport to the service, with the API key.
const wallet = createClient({
  chain,
  transport: http(serviceUrl, { fetchOptions: { headers } }),
}).extend(erc7715ProviderActions());

/** The owner signs the operation the service built (`keyscope.userOpHash`), and the funder sends its handleOps. */
async function ownerSends(operation) {
  const signature = await owner.sign({ hash: operation.userOpHash });
  const tx = await rpc('keyscope_handleOpsTransaction', {
    userOp: { ...operation.userOp, signature },
    entryPoint: operation.entryPoint,
    beneficiary: funder.account.address,
  });
  check(tx.accepted, `the owner's operation would fail: ${JSON.stringify(tx.failure)}`);
  const hash = await funder.sendTransaction({ to: tx.to, data: tx.data, gas: 3_000_000n });
  const receipt = await node.waitForTransactionReceipt({ hash });
  check(receipt.status === 'success', `transaction ${hash} reverted`);
  return hash;
}

// 1. Supported permissions, as the kit reads them.
const supported = await wallet.getSupportedExecutionPermissions();
for (const kind of ['native-token-allowance', 'erc20-token-allowance']) {
  check(supported[kind]?.chainIds?.includes(chain.id), `${kind} not supported on ${chain.id}: ${JSON.stringify(supported)}`);
  check(supported[kind].ruleTypes.includes('expiry'), `${kind} without the expiry rule`);
}
console.log(`getSupportedExecutionPermissions: native-token-allowance, erc20-token-allowance on chain ${chain.id}`);

// 2. Request both allowances for a new session key.
const { timestamp } = await node.getBlock();
const expiry = Number(timestamp) + 3600;
const nativeAmount = parseEther('0.01');
const granted = await wallet.requestExecutionPermissions([
  {
    chainId: chain.id,
    from: accountAddress,
    to: sessionKey.address,
    expiry,
    permission: {
      type: 'native-token-allowance',
      data: { allowanceAmount: nativeAmount, justification: 'tips' },
      isAdjustmentAllowed: false,
    },
  },
  {
    chainId: chain.id,
    from: accountAddress,
    to: sessionKey.address,
    expiry,
    permission: {
      type: 'erc20-token-allowance',
      data: { tokenAddress: token, allowanceAmount: 300n },
      isAdjustmentAllowed: false,
    },
  },
]);
check(granted.length === 2, `expected 2 permissions, got ${granted.length}`);
const [native, erc20] = granted;
for (const answer of granted) {
  check(answer.chainId === chain.id, `chainId ${answer.chainId}`);
  check(answer.from.toLowerCase() === accountAddress.toLowerCase(), `from ${answer.from}`);
  check(answer.to.toLowerCase() === sessionKey.address.toLowerCase(), `to ${answer.to}`);
  check(answer.context.startsWith('0x01'), `context ${answer.context}`);
  check(answer.rules?.[0]?.type === 'expiry' && answer.rules[0].data.timestamp === expiry, `rules ${JSON.stringify(answer.rules)}`);
}
check(native.permission.type === 'native-token-allowance', `type ${native.permission.type}`);
check(native.permission.data.allowanceAmount === nativeAmount, `native allowance ${native.permission.data.allowanceAmount}`);
check(erc20.permission.type === 'erc20-token-allowance', `type ${erc20.permission.type}`);
check(erc20.permission.data.allowanceAmount === 300n, `erc20 allowance ${erc20.permission.data.allowanceAmount}`);
check(erc20.permission.data.tokenAddress.toLowerCase() === token.toLowerCase(), `token ${erc20.permission.data.tokenAddress}`);
console.log(`requestExecutionPermissions: native-token-allowance ${formatEther(native.permission.data.allowanceAmount)} ETH, erc20-token-allowance ${erc20.permission.data.allowanceAmount}`);
check(native.keyscope.userOpHash === erc20.keyscope.userOpHash, 'one owner operation grants both');
console.log(`granted in ${await ownerSends(native.keyscope)}`);

// 3. The grants of this API key, as the kit lists them (params: []).
let listed = await wallet.getGrantedExecutionPermissions();
check(listed.length === 2, `getGrantedExecutionPermissions: expected 2, got ${listed.length}`);
check(listed.some((p) => p.context === native.context) && listed.some((p) => p.context === erc20.context), 'the contexts granted');
const listedNative = listed.find((p) => p.context === native.context);
check(listedNative.chainId === chain.id && listedNative.permission.data.allowanceAmount === nativeAmount, 'the listed native allowance');
console.log(`getGrantedExecutionPermissions: ${listed.length} (${listed.map((p) => p.permission.type).join(', ')})`);

// 4. The session key spends within both allowances.
/** The session key runs `calls` under `session` through the service; the funder sends the handleOps if answered. */
async function sessionSends(session, calls) {
  const prepared = await rpc('keyscope_prepareSessionOperation', { account: accountAddress, session, calls });
  const sent = await rpc('keyscope_sendSessionOperation', {
    userOp: prepared.userOp,
    signature: await sessionKey.sign({ hash: prepared.userOpHash }),
    beneficiary: funder.account.address,
  });
  if (sent.sent) return sent.transactionHash;
  const hash = await funder.sendTransaction({ to: sent.transaction.to, data: sent.transaction.data, gas: 3_000_000n });
  const receipt = await node.waitForTransactionReceipt({ hash });
  check(receipt.status === 'success', `transaction ${hash} reverted`);
  return hash;
}
const value = parseEther('0.0005');
await sessionSends(native.keyscope.sessionId, [{ to: recipient, value: toHex(value) }]);
const balance = await node.getBalance({ address: recipient });
check(balance === value, `the recipient has ${formatEther(balance)} ETH`);
console.log(`session operation: the recipient received ${formatEther(balance)} ETH`);
await sessionSends(erc20.keyscope.sessionId, [{
  to: token,
  data: encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [recipient, 200n] }),
}]);
const tokens = await node.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [recipient] });
check(tokens === 200n, `the recipient has ${tokens} tokens`);
console.log(`session operation: the recipient received ${tokens} tokens`);

// 5. Revoke the native allowance (the kit has no revoke action: the same viem client's request).
check(typeof wallet.revokeExecutionPermission === 'undefined', 'the kit has a revoke action now: use it');
const revoked = await wallet.request({
  method: 'wallet_revokeExecutionPermission',
  params: { permissionContext: native.context },
});
console.log(`wallet_revokeExecutionPermission: revoked in ${await ownerSends(revoked.keyscope)}`);
listed = await wallet.getGrantedExecutionPermissions();
check(listed.length === 1 && listed[0].context === erc20.context, `after revoking: ${listed.length} granted`);
console.log(`getGrantedExecutionPermissions after revoke: ${listed.length} (${listed[0].permission.type})`);

// 6. A periodic allowance that only the session key redeems and only pays `recipient`.
const supportedPeriodic = supported['erc20-token-periodic'];
for (const rule of ['redeemer', 'payee']) {
  check(supportedPeriodic?.ruleTypes?.includes(rule), `erc20-token-periodic without the ${rule} rule: ${JSON.stringify(supported)}`);
}
const [periodic] = await wallet.requestExecutionPermissions([{
  chainId: chain.id,
  from: accountAddress,
  to: sessionKey.address,
  expiry,
  redeemer: [sessionKey.address],
  payee: [recipient],
  permission: {
    type: 'erc20-token-periodic',
    data: { tokenAddress: token, periodAmount: 50n, periodDuration: 3600, startTime: Number(timestamp) - 60 },
    isAdjustmentAllowed: false,
  },
}]);
check(periodic.permission.data.periodAmount === 50n, `periodAmount ${periodic.permission.data.periodAmount}`);
check(periodic.permission.data.periodDuration === 3600, `periodDuration ${periodic.permission.data.periodDuration}`);
const ruleOf = (type) => periodic.rules.find((rule) => rule.type === type);
check(ruleOf('redeemer')?.data.addresses[0] === sessionKey.address, `redeemer ${JSON.stringify(periodic.rules)}`);
check(ruleOf('payee')?.data.addresses[0] === recipient, `payee ${JSON.stringify(periodic.rules)}`);
console.log(`requestExecutionPermissions: erc20-token-periodic ${periodic.permission.data.periodAmount} per ${periodic.permission.data.periodDuration} s, redeemer and payee rules`);
await ownerSends(periodic.keyscope);
await sessionSends(periodic.keyscope.sessionId, [{
  to: token,
  data: encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [recipient, 20n] }),
}]);
const paid = await node.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [recipient] });
check(paid === 220n, `the payee has ${paid} tokens`);
console.log(`session operation: the payee received 20 tokens`);
const stranger = privateKeyToAccount(generatePrivateKey()).address;
const refused = await sessionSends(periodic.keyscope.sessionId, [{
  to: token,
  data: encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [stranger, 1n] }),
}]).then(() => null, (error) => error.message);
check(refused?.includes('-32500') && refused.includes('ArgumentRuleFailed'), `a transfer to another payee: ${refused}`);
console.log('session operation to another payee: refused (-32500, ArgumentRuleFailed)');
