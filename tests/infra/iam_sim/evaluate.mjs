// Evaluates an IAM identity policy for a list of requests with @cloud-copilot/iam-simulate, an
// IAM policy simulator independent of the emulator (moto neither substitutes policy variables
// such as ${aws:PrincipalTag/sub} nor sets principal tags from a Cognito identity pool).
// stdin: {"policy", "principal", "accountId", "cases": [{"action", "resource", "context"}]}
// stdout: [{"decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied"} | {"error": ...}]
import { runSimulation } from '@cloud-copilot/iam-simulate'
let input = ''
for await (const chunk of process.stdin) input += chunk
const { policy, principal, accountId, cases } = JSON.parse(input)
const out = []
for (const c of cases) {
  const result = await runSimulation({
    identityPolicies: [{ name: 'role', policy }],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    request: { principal, action: c.action, resource: { resource: c.resource, accountId }, contextVariables: c.context },
  }, {})
  out.push(result.errors ? { error: result.errors } : { decision: result.overallResult })
}
process.stdout.write(JSON.stringify(out))
