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
// Method: Keyscope's, as bench/peers/common.mjs describes it (EntryPoint v0.7, at its canonical address, whose
// penalty on unused execution gas is 10 % of what is left unused: the smallest callGasLimit keeps it as small as it
// gets; both accounts keep a deposit at the EntryPoint; the enforcer's counter is written before the measured
// operations). Then four probes of the delegation's scope, each sent inside a snapshot and reverted (no gas recorded):
// another recipient, 101 units, `approve` instead of `transfer`, and after the time window.
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

import { createRequire } from 'node:module';
import {
  Implementation, createDelegation, toMetaMaskSmartAccount,
} from '@metamask/smart-accounts-kit';
import { deploySmartAccountsEnvironment } from '@metamask/smart-accounts-kit/utils';
import { getContractAddress, pad, toHex } from 'viem';
import { entryPoint07Abi, entryPoint07Address, toPackedUserOperation } from 'viem/account-abstraction';
import { privateKeyToAccount } from 'viem/accounts';
import { AMOUNT, MAX_AMOUNT, RECIPIENT, VALID_UNTIL, callAndGas, peer, transferData } from './common.mjs';

const require = createRequire(import.meta.url);

// ---- Artifacts ------------------------------------------------------------------------------------------------------

const entryPointArtifact = require('@account-abstraction/contracts/artifacts/EntryPoint.json');
const { DelegationManager: delegationManagerAbi, HybridDeleGator: hybridAbi } = require('@metamask/delegation-abis');

// ---- The node, the keys ---------------------------------------------------------------------------------------------

const {
  log, fixedKey, deployer, chainId, chain, node, senderWallet, deployerWallet, transact, hasCode, ensureEntryPoint,
  ensureDeployments, fund, mint, nonceOf, measure, probe, run,
} = await peer({
  name: 'metamask',
  entryPoint: {
    address: entryPoint07Address,
    abi: entryPoint07Abi,
    salt: '0x90d8084deab30c2a37c45e8d47f49f2f7965183cb6990a98943ef94940681de3',
    artifact: entryPointArtifact,
    version: 'v0.7',
    pack: toPackedUserOperation,
  },
  // Revert reasons: the framework's custom errors and the EntryPoint's.
  errorAbis: [delegationManagerAbi, hybridAbi, entryPoint07Abi],
});
/** The delegator's owner and the delegate's owner. */
const owner = privateKeyToAccount(fixedKey('owner'));
const delegateOwner = privateKeyToAccount(fixedKey('delegate'));

// ---- Deployments (whatever is missing) ------------------------------------------------------------------------------

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
  const token = await ensureDeployments({
    message: 'deploying the Delegation Framework (deploySmartAccountsEnvironment) and the token',
    deploy: async () => {
      const actual = await deploySmartAccountsEnvironment(
        deployerWallet, node, chain, { EntryPoint: entryPoint07Address },
      );
      if (JSON.stringify(actual).toLowerCase() !== JSON.stringify(environment).toLowerCase()) {
        throw new Error('the framework is not where it was expected');
      }
    },
    tokenNonce: nonces,
    addresses: [
      environment.DelegationManager, environment.implementations.HybridDeleGatorImpl, environment.SimpleFactory,
      ...Object.values(environment.caveatEnforcers),
    ],
  });
  return { environment, token };
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
  await fund(account.address);
  return account;
}

/** The operation of `account` calling `callData`, signed, with `callGasLimit`; its nonce read from the EntryPoint. */
async function userOperation(account, callData, callGasLimit) {
  const userOp = {
    sender: account.address,
    nonce: await nonceOf(account.address),
    ...callAndGas(callData, callGasLimit),
  };
  return { ...userOp, signature: await account.signUserOperation({ ...userOp, chainId }) };
}

// ---- The scenarios --------------------------------------------------------------------------------------------------

await ensureEntryPoint();
const { environment, token } = await ensureFramework();
log(`EntryPoint ${entryPoint07Address}, DelegationManager ${environment.DelegationManager}, token ${token}`);

await run(async () => {
  const delegator = await smartAccount(environment, owner, pad('0x01', { size: 32 }));
  const delegate = await smartAccount(environment, delegateOwner, pad('0x02', { size: 32 }));
  await mint(token, delegator.address);
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
  const measurements = await measure(
    token, scenarios, ({ account, callData }, callGasLimit) => userOperation(account, callData, callGasLimit),
  );

  // The delegation's probes, sent by the delegate.
  const probes = await probe({
    wrap: redeemCall,
    operation: (callData, callGasLimit) => userOperation(delegate, callData, callGasLimit),
    revertedReason: (outcome) => outcome.error?.shortMessage,
  });

  return {
    system: 'MetaMask Delegation Framework (smart-accounts-kit 2.0.0)',
    entryPoint: 'v0.7',
    scope: `${scope} (target: the token; selector: transfer(address,uint256); value 0; to == recipient; `
      + `at most ${MAX_AMOUNT} units in all under the delegation; until ${VALID_UNTIL})`,
    measurements,
    probes,
  };
});
