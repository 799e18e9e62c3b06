// What the examples share: a JSON-RPC helper for keyscope-rpc's own methods, the dev chain as a viem chain, and
// anvil's published dev account 1, which funds accounts and sends the handleOps transactions (their beneficiary).

import { createPublicClient, createWalletClient, defineChain, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

/** anvil's published dev account 1 (never a secret: every anvil has it). */
const ANVIL_ACCOUNT_1 = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';

/**
 * A JSON-RPC caller of the service at `serviceUrl` (with extra HTTP `headers`, e.g. an API key); errors carry the
 * service's code, message and `data.field`.
 */
export function serviceRpc(serviceUrl, headers = {}) {
  return async function rpc(method, params) {
    const response = await fetch(serviceUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    });
    const body = await response.json();
    if (body.error) {
      const field = body.error.data?.field ? ` (${body.error.data.field})` : '';
      throw new Error(`${method}: ${body.error.code} ${body.error.message}${field}`);
    }
    return body.result;
  };
}

/** Throws `message` unless `condition`. */
export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** The node at `nodeUrl` with chain id `chainId`: `{chain, node}` (a public client) and `funder` (dev account 1). */
export function devChain(nodeUrl, chainId) {
  const chain = defineChain({
    id: Number(chainId),
    name: 'dev',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [nodeUrl] } },
  });
  return {
    chain,
    node: createPublicClient({ chain, transport: http(nodeUrl) }),
    funder: createWalletClient({ chain, transport: http(nodeUrl), account: privateKeyToAccount(ANVIL_ACCOUNT_1) }),
  };
}
