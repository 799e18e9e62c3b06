// viem's own ERC-7715 client against keyscope-rpc, unchanged: `erc7715Actions()` of `viem/experimental` on a viem
// client whose transport points at the service.
//
//   node examples/erc7715-viem.mjs SERVICE_URL
//
// viem's `grantPermissions` sends `wallet_grantPermissions` in the 2024 draft's shape: `[{expiry, permissions:
// [{type, data, policies: [{type, data}], required}], signer}]`, with no chainId and no account (the wallet is
// implicit), and expects `{grantedPermissions, permissionsContext, expiry, …}` back. The service has no connected
// wallet to pick the account from, so it refuses that shape with -32602 on `[0].permissions`, saying what to send
// (the current draft's `wallet_requestExecutionPermissions`, as MetaMask's kit sends it: examples/erc7715-metamask.mjs).
// This script checks that viem surfaces that refusal as a typed error (InvalidParamsRpcError, code -32602, with the
// service's message), and that nothing else goes wrong on the way (no parse failure, no transport error).
//
// Prints each step; exits non-zero on any unexpected answer.

import { createWalletClient, http, parseEther } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { erc7715Actions } from 'viem/experimental';

const [serviceUrl = 'http://127.0.0.1:8548'] = process.argv.slice(2);

const wallet = createWalletClient({ transport: http(serviceUrl) }).extend(erc7715Actions());
const sessionKey = privateKeyToAccount(generatePrivateKey());

/** The first error in `error`'s cause chain that has `key`. */
function find(error, key) {
  for (let e = error; e; e = e.cause) if (e[key] !== undefined) return e[key];
  return undefined;
}

async function refused(label, parameters) {
  try {
    const answer = await wallet.grantPermissions(parameters);
    throw new Error(`${label}: expected a refusal, got ${JSON.stringify(answer, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
  } catch (error) {
    if (error.name !== 'InvalidParamsRpcError' || error.code !== -32602) throw error;
    const data = find(error, 'data');
    const details = error.details ?? '';
    if (!details.includes("the 2024 draft's shape (permissions[] with policies) is not served")) throw error;
    if (!details.includes('{chainId, from, to, permission: {type, data}, rules}')) throw error;
    if (data?.field !== '[0].permissions') throw new Error(`${label}: field ${JSON.stringify(data)}`);
    console.log(`grantPermissions (${label}): ${error.name} ${error.code} on ${data.field}: ${details}`);
  }
}

const expiry = Math.floor(Date.now() / 1000) + 3600;
// A native-token transfer with a token-allowance policy, to a local account (viem sends signer {type: 'account'}).
await refused('native-token-transfer', {
  account: sessionKey,
  expiry,
  permissions: [{
    type: 'native-token-transfer',
    data: { ticker: 'ETH' },
    policies: [{ type: 'token-allowance', data: { allowance: parseEther('0.01') } }],
    required: true,
  }],
});
// An ERC-20 transfer with a token-allowance policy, to a signer given as such.
await refused('erc20-token-transfer', {
  signer: { type: 'account', data: { id: sessionKey.address } },
  expiry,
  permissions: [{
    type: 'erc20-token-transfer',
    data: { address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', ticker: 'TOKEN' },
    policies: [{ type: 'token-allowance', data: { allowance: 300n } }],
  }],
});
