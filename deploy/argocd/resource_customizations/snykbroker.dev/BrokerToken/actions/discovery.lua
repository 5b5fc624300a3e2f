-- Argo CD actions of a snykbroker.dev/BrokerToken: "rotate" asks the operator for a new token now.
-- It is disabled where the operator could not rotate or one rotation already runs:
--   a token taken from spec.source.existingSecretRef (never sent to Snyk; put a new token in that Secret instead),
--   a rotation in progress (status.rotation), an object being deleted.
local actions = {}
local disabled = false
if obj.spec ~= nil and obj.spec.source ~= nil and obj.spec.source.existingSecretRef ~= nil then
  disabled = true
end
if obj.status ~= nil and obj.status.rotation ~= nil then
  disabled = true
end
if obj.metadata.deletionTimestamp ~= nil then
  disabled = true
end
actions["rotate"] = {
  ["disabled"] = disabled,
  ["iconClass"] = "fa fa-fw fa-rotate",
  ["displayName"] = "Rotate the broker token",
}
return actions
