// Patches the pinned Alto bundler (npm `@pimlico/alto` 0.0.20) so that its safe mode (the ERC-7562 checks, on by
// default: no `--safe-mode false`) works for EntryPoint v0.7 and v0.8. Run by the root `postinstall` script, i.e.
// on every `npm ci` / `npm install`; idempotent.
//
// The bug: in safe mode Alto traces `PimlicoSimulations.simulateValidation(...)` with its JS tracer
// (`debug_traceCall`), and `SafeValidator.getValidationResultWithTracerV07` (esm/rpc/validation/SafeValidator.js)
// takes the validation result from the *last entry* of the tracer's `calls` list, requires it to be a REVERT and
// decodes it as an error of `pimlicoSimulationsAbi`. But since the EntryPoint simulations moved behind
// `PimlicoSimulations` (which calls `EntryPoint.delegateAndRevert` and unwraps it), that last entry is the exit of
// the EntryPoint's frame, which always reverts with `DelegateAndRevert(bool,bytes)` (selector 0x99410554); the
// tracer never records the top-level frame itself. So every operation fails with
// `Encoded error signature "0x99410554" not found on ABI`. (`pimlicoSimulationsAbi` has no errors at all, so not
// even a genuine FailedOp could have been decoded there.)
//
// The fix (three exact text replacements, each checked):
//   1. esm/rpc/validation/BundlerCollectorTracerV07.js: the tracer's `result(ctx)` also returns the top-level
//      call's own outcome, `output: toHex(ctx.output)` and `error: ctx.error` (standard fields of a JS tracer's
//      context, in geth and in anvil).
//   2. esm/rpc/validation/SafeValidator.js, getValidationResultWithTracerV07: decode that top-level outcome, as
//      the unsafe mode does with the same call's `eth_call` result: if it returned, it is the function result of
//      `simulateValidation` (the `ValidationResult` struct); if it reverted, the revert data is the EntryPoint's
//      FailedOp / FailedOpWithRevert / Error(string), reported exactly as the unsafe mode reports it
//      ("UserOperation reverted with reason: AA23 reverted 0x…", with the ERC-7769 code of its AA code).
//   3. esm/rpc/validation/SafeValidator.js: the imports the new code needs (viem's `decodeFunctionResult`; the
//      simulation errors and helpers Alto already has in esm/rpc/estimation/utils.js).
//
// Upstream Alto fixed safe mode after 0.0.20; this patch goes away when Alto is upgraded (the script refuses any
// other version: delete it and the `postinstall` line then).

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const VERSION = "0.0.20";
const MARKER = "[keyscope patch-alto]";
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const alto = join(root, "node_modules/@pimlico/alto");

function fail(message) {
  console.error(`patch-alto: ${message}`);
  process.exit(1);
}

let version;
try {
  version = JSON.parse(readFileSync(join(alto, "package.json"), "utf8")).version;
} catch (e) {
  fail(`cannot read ${join(alto, "package.json")} (is @pimlico/alto installed?): ${e.message}`);
}
if (version !== VERSION) {
  fail(
    `@pimlico/alto is ${version}, this patch is for exactly ${VERSION}: check whether the new version still needs ` +
      "it (safe mode on anvil), then update or delete script/patch-alto.mjs and the postinstall script",
  );
}

const TRACER = "esm/rpc/validation/BundlerCollectorTracerV07.js";
const VALIDATOR = "esm/rpc/validation/SafeValidator.js";

const patches = [
  {
    file: TRACER,
    what: "tracer result: the top-level call's output and error",
    from: `        result(_ctx, _db) {
            return {
                callsFromEntryPoint: this.callsFromEntryPoint,`,
    to: `        result(_ctx, _db) {
            return {
                // ${MARKER} the top-level call's own outcome, decoded by SafeValidator
                output: toHex(_ctx.output),
                error: _ctx.error,
                callsFromEntryPoint: this.callsFromEntryPoint,`,
  },
  {
    file: VALIDATOR,
    what: "imports",
    from: `import { decodeErrorResult, encodeDeployData, encodeFunctionData, zeroAddress } from "viem";`,
    to: `import { decodeErrorResult, decodeFunctionResult, encodeDeployData, encodeFunctionData, zeroAddress } from "viem";
// ${MARKER} for the decoding of the top-level outcome in getValidationResultWithTracerV07
import { parseFailedOpWithRevert, simulationErrors, toErc7769Code } from "../estimation/utils.js";`,
  },
  {
    file: VALIDATOR,
    what: "getValidationResultWithTracerV07 decodes the top-level outcome",
    from: `        const lastResult = tracerResult.calls.slice(-1)[0];
        if (lastResult.type !== "REVERT") {
            throw new Error("Invalid response. simulateCall must revert");
        }
        const resultData = lastResult.data;
        // Decode the validation result from the revert data
        const { errorName, args } = decodeErrorResult({
            abi: pimlicoSimulationsAbi,
            data: resultData
        });
        if (errorName !== "ValidationResult") {
            let errorCode = ERC7769Errors.SimulateValidation;
            const errorMessage = errorName || "Unknown validation error";
            if (errorMessage.includes("AA24")) {
                errorCode = ERC7769Errors.InvalidSignature;
            }
            if (errorMessage.includes("AA31")) {
                errorCode = ERC7769Errors.PaymasterDepositTooLow;
            }
            throw new RpcError(errorMessage, errorCode);
        }
        const validationResult = args[0];`,
    to: `        // ${MARKER} PimlicoSimulations.simulateValidation returns the ValidationResult, or reverts with the
        // EntryPoint's error: decode the top-level call's own outcome (the last entry of \`calls\` is the
        // EntryPoint's DelegateAndRevert frame, not the result).
        const resultData = tracerResult.output;
        if (typeof resultData !== "string") {
            throw new Error("Invalid response: the tracer returned no top-level output");
        }
        if (tracerResult.error) {
            let reason = resultData === "0x" ? String(tracerResult.error) : resultData;
            try {
                const { errorName, args } = decodeErrorResult({
                    abi: simulationErrors,
                    data: resultData
                });
                if (errorName === "FailedOp") {
                    reason = args[1];
                }
                else if (errorName === "FailedOpWithRevert") {
                    reason = \`\${args[1]} \${parseFailedOpWithRevert(args[2])}\`;
                }
                else if (errorName === "Error") {
                    reason = args[0];
                }
            }
            catch { }
            throw new RpcError(\`UserOperation reverted with reason: \${reason}\`, toErc7769Code(reason));
        }
        const validationResult = decodeFunctionResult({
            abi: pimlicoSimulationsAbi,
            functionName: "simulateValidation",
            data: resultData
        });`,
  },
];

const count = (text, part) => text.split(part).length - 1;
const contents = new Map();
const read = (file) => {
  if (!contents.has(file)) {
    contents.set(file, readFileSync(join(alto, file), "utf8"));
  }
  return contents.get(file);
};

let applied = 0;
let already = 0;
for (const patch of patches) {
  const text = read(patch.file);
  if (count(text, patch.to) === 1) {
    already += 1;
    continue;
  }
  const found = count(text, patch.from);
  if (found !== 1) {
    fail(
      `${patch.file}: expected the original text of "${patch.what}" exactly once, found it ${found} times ` +
        "(and not the patched text): the installed Alto is not the one this patch was written for",
    );
  }
  contents.set(patch.file, text.replace(patch.from, () => patch.to));
  applied += 1;
}
if (applied > 0 && already > 0) {
  fail(`@pimlico/alto ${version} is partly patched (${already} of ${patches.length}): reinstall it with npm ci`);
}
if (applied > 0) {
  for (const [file, text] of contents) {
    writeFileSync(join(alto, file), text);
  }
  console.log(
    `patch-alto: patched @pimlico/alto ${version} (safe mode decodes the top-level simulateValidation outcome): ` +
      `${applied} replacements in ${[...contents.keys()].join(", ")}`,
  );
} else {
  console.log(`patch-alto: @pimlico/alto ${version} already patched, nothing to do`);
}
