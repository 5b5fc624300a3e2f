-- Argo CD health of a snykbroker.dev/SnykConnection, from the kstatus conditions snyk-broker-operator writes
-- (Ready, Reconciling, Stalled) and status.observedGeneration, so that Argo CD and Flux (kstatus) agree:
--   Healthy      Ready=True, the current generation observed, nothing in progress
--   Progressing  no status yet, generation not observed yet, Reconciling=True, or Ready not True
--   Degraded     Stalled=True: the operator cannot go on until someone acts; the message says what to do
-- It uses no string library: scripts set in argocd-cm run with only package, base, table and a safe os.
local hs = {}

local function condition(conditions, kind)
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function said(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason
end

-- What Argo CD itself reports for an object being deleted (it does not call this script then); kept here so that
-- the script gives the same answer when run on its own.
if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Pending deletion"
  return hs
end

local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for snyk-broker-operator to report a status"
  return hs
end

-- A status computed from an older spec says nothing about the current one.
if status.observedGeneration == nil or status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for snyk-broker-operator to observe generation " .. tostring(obj.metadata.generation)
  return hs
end

local stalled = condition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = said(stalled)
  return hs
end

local reconciling = condition(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = said(reconciling)
  return hs
end

local ready = condition(status.conditions, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = said(ready)
  return hs
end
if ready ~= nil then
  hs.status = "Progressing"
  hs.message = said(ready)
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the Ready condition"
return hs
