-- Spreading work by talk time: among the free agents, the one who has talked least today,
-- counting a call as at least three minutes so that many short calls also count; ties go to
-- the longest idle.
return function(call, agents)
  local order = {}
  for i, a in ipairs(agents) do order[i] = a end
  local function load(a)
    return math.max(a.talk_seconds_today, a.calls_today * 180)
  end
  table.sort(order, function(x, y)
    if load(x) ~= load(y) then return load(x) < load(y) end
    return x.idle_seconds > y.idle_seconds
  end)
  local chosen = {}
  for i = 1, math.min(#order, 8) do chosen[i] = order[i].extension end
  if #chosen > 0 then
    return { agents = chosen, note = "least loaded first" }
  end
end
