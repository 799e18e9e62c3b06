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
// Method: Keyscope's, as bench/peers/common.mjs describes it and as metamask.mjs uses it (EntryPoint v0.6, at its
// canonical address, has no penalty on unused execution gas; the bisection of the smallest callGasLimit is kept so
// the method is the same; the account keeps a deposit at the EntryPoint). Then four probes of the session's scope,
// each sent inside a snapshot and reverted (no gas recorded): another recipient, 101 units, `approve` instead of
// `transfer`, and after the time window (the clock moved past validUntil and one block mined, so the `eth_call` below
// sees it too). A refused probe's reason is the EntryPoint's revert (read by an `eth_call` of the same handleOps just
// before it is sent: a reverted transaction's receipt has no revert data) or the operation's revert reason.
//
// Whatever is missing is deployed first: the EntryPoint through anvil's CREATE2 deployer (salt 0 and the init code of
// `@account-abstraction/contracts` 0.6.0, which give the canonical address), Biconomy's contracts and the token from a
// fixed deployer key, so every address is the same on every fresh anvil. Every input is fixed (keys, index, amounts,
// times, fees): two runs give the same figures. The measuring part (the account included) runs inside a snapshot that
// is reverted at the end, so the node is left as the deployments left it.
//
// Prints one JSON object on stdout; progress on stderr.

import { createRequire } from 'node:module';
import { encodeAbiParameters, encodeFunctionData, encodePacked, getContractAddress, keccak256 } from 'viem';
import { entryPoint06Abi, entryPoint06Address, getUserOperationHash } from 'viem/account-abstraction';
import { privateKeyToAccount } from 'viem/accounts';
import { compile, versions } from './biconomy/compile.mjs';
import {
  AMOUNT, CALL_GAS_RANGE, MAX_AMOUNT, RECIPIENT, VALID_UNTIL, callAndGas, peer, transferData,
} from './common.mjs';

const require = createRequire(import.meta.url);

// ---- Fixed inputs ---------------------------------------------------------------------------------------------------

/** The session's limits (besides common.mjs's: 100 units per call, until 2100-01-01): from 0. */
const VALID_AFTER = 0;
/** The account's index in the factory. */
const ACCOUNT_INDEX = 0n;

// ---- The node, the keys ---------------------------------------------------------------------------------------------

const {
  log, fixedKey, deployer, chainId, node, senderWallet, deployerWallet, transact, hasCode, ensureEntryPoint,
  ensureDeployments, fund, mint, nonceOf, send, measure, probe, run,
} = await peer({
  name: 'biconomy',
  entryPoint: {
    address: entryPoint06Address,
    abi: entryPoint06Abi,
    salt: `0x${'00'.repeat(32)}`,
    artifact: require('@account-abstraction/contracts-v06/artifacts/EntryPoint.json'),
    version: 'v0.6',
    pack: (op) => op,
  },
  // Revert reasons: the EntryPoint's errors; each handleOps is first run by an eth_call, for its revert reason.
  errorAbis: [entryPoint06Abi],
  simulate: true,
});
/** The account's owner and the session key. */
const owner = privateKeyToAccount(fixedKey('owner'));
const sessionKey = privateKeyToAccount(fixedKey('session'));

// ---- Artifacts ------------------------------------------------------------------------------------------------------

log(`compiling ${Object.entries(versions).map(([name, version]) => `${name} ${version}`).join(', ')}`);
const compiled = compile();
/** The deployer's nonces: what it deploys, in this order (the token last). */
const DEPLOYMENT_ORDER = [
  'SmartAccount', 'SmartAccountFactory', 'EcdsaOwnershipRegistryModule', 'SessionKeyManager',
  'ERC20SessionValidationModule',
];

// ---- Deployments (whatever is missing) ------------------------------------------------------------------------------

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
  const token = await ensureDeployments({
    message: 'deploying Biconomy Smart Account v2 (implementation, factory, modules) and the token',
    deploy: async () => {
      const args = constructorArgs(addresses);
      for (const [nonce, name] of DEPLOYMENT_ORDER.entries()) {
        const { abi, bytecode } = compiled[name];
        const hash = await deployerWallet.deployContract({ abi, bytecode, args: args[name], nonce, gas: 10_000_000n });
        const receipt = await node.waitForTransactionReceipt({ hash });
        if (receipt.status !== 'success' || receipt.contractAddress?.toLowerCase() !== addresses[name].toLowerCase()) {
          const got = `${receipt.status}, ${receipt.contractAddress}`;
          throw new Error(`${name} was not deployed at ${addresses[name]} (${got})`);
        }
      }
    },
    tokenNonce: DEPLOYMENT_ORDER.length,
    addresses: Object.values(addresses),
  });
  return { addresses, token };
}

// ---- Operations -----------------------------------------------------------------------------------------------------

/** The operation of `account` calling `callData`, with `callGasLimit` and a signature by `sign(userOpHash)`. */
async function userOperation(account, callData, callGasLimit, sign) {
  const userOp = {
    sender: account,
    nonce: await nonceOf(account),
    initCode: '0x',
    ...callAndGas(callData, callGasLimit),
    paymasterAndData: '0x',
    signature: '0x',
  };
  const hash = getUserOperationHash({
    userOperation: userOp, entryPointAddress: entryPoint06Address, entryPointVersion: '0.6', chainId,
  });
  return { ...userOp, signature: await sign(hash) };
}

// ---- The scenarios --------------------------------------------------------------------------------------------------

await ensureEntryPoint();
const { addresses, token } = await ensureBiconomy();
log(`EntryPoint ${entryPoint06Address}, factory ${addresses.SmartAccountFactory}, `
  + `SessionKeyManager ${addresses.SessionKeyManager}, token ${token}`);

const accountAbi = compiled.SmartAccount.abi;
await run(async () => {
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
  await fund(account);
  await mint(token, account);
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

  // The session is set up by the owner: enableModule(SessionKeyManager) and SessionKeyManager.setMerkleRoot(leaf),
  // one owner-signed batch.
  const enabled = await node.readContract({
    address: account, abi: accountAbi, functionName: 'isModuleEnabled', args: [addresses.SessionKeyManager],
  });
  if (!enabled) {
    const callData = encodeFunctionData({
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
    });
    await send(() => userOperation(account, callData, CALL_GAS_RANGE[1], ownerSign));
  }

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
  const measurements = await measure(
    token, scenarios, ({ callData, sign }, callGasLimit) => userOperation(account, callData, callGasLimit, sign),
  );

  // The session's probes, signed by the session key; after the window, one block is mined so the eth_call sees it.
  const probes = await probe({
    wrap: executeCall,
    operation: (callData, callGasLimit) => userOperation(account, callData, callGasLimit, sessionSign),
    mine: true,
    revertedReason: (outcome) => outcome.simulated,
  });

  return {
    system: `Biconomy Smart Account v2 + SessionKeyManager (account-contracts-v2 ${versions.package})`,
    entryPoint: 'v0.6',
    scope: `SessionKeyManager (Merkle root of session leaves; validUntil ${VALID_UNTIL}, validAfter ${VALID_AFTER}) `
      + 'with ERC20SessionValidationModule, which checks: the call is execute/execute_ncC to the token, value 0, '
      + `the inner call's (address, uint256) arguments are the recipient and at most ${MAX_AMOUNT} units per call `
      + '(no total), the session key signed; not the inner selector',
    measurements,
    probes,
  };
});
