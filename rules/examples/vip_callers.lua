-- VIP callers (numbers listed here, or a "vip" fact set by the IVR from the CRM) go to the most
-- proficient agent available, first in line.
local vip = {
  ["+819011112222"] = true,
  ["+819033334444"] = true,
}

return function(call, agents)
  if not (vip[call.caller] or call.facts.vip == "1") then
    return nil
  end
  local best, level = nil, -1
  for _, a in ipairs(agents) do
    local p = a.skills[call.skill] or 0
    if p > level then best, level = a, p end
  end
  if best then
    return { agents = { best.extension }, priority = 9, note = "vip caller" }
  end
  return { priority = 9, note = "vip caller, nobody free" }
end
