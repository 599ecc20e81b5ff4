-- Overflow by load: when fewer than three agents of the skill are free, new calls go to the
-- skill's overflow at once (another team, or a partner's PBX), keeping the last free agents
-- for callers already in the IVR's priority lane (fact "lane" = "priority").
return function(call, agents)
  if #agents < 3 and call.facts.lane ~= "priority" then
    return { overflow = true, note = string.format("only %d agents free", #agents) }
  end
end
