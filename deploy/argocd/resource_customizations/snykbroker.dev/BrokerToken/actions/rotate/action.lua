-- Argo CD action "rotate" on a snykbroker.dev/BrokerToken: sets the annotation snykbroker.dev/rotate-requested-at
-- to the current UTC time (what `snyk-broker-operator rotate` and `kubectl annotate` do); any new value starts
-- exactly one rotation, with spec.rotation.strategy (Bridge unless set).
-- require("os"): argocd-cm scripts have no global os, only this safe one (time and date).
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["snykbroker.dev/rotate-requested-at"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
