-- Business hours beyond the number's schedule: on holidays and outside 9:00-18:00 on weekdays
-- the call goes to the tenant's "after_hours" destination (set by the platform); Saturday
-- mornings only the senior agents (skill "senior") take calls.
return function(call, agents)
  local weekday = call.wday <= 5
  local open = weekday and call.hour >= 9 and call.hour < 18
  if call.holiday or (not open and not (call.wday == 6 and call.hour >= 9 and call.hour < 12)) then
    return { forward = "after_hours", note = "outside business hours" }
  end
  if call.wday == 6 then
    return { skill = "senior", note = "saturday: seniors only" }
  end
end
