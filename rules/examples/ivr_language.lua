-- The language the caller chose in the IVR (fact "lang", from a header the proxy passes) picks
-- the skill: English speakers to "english" at level 5 or more, Chinese to "chinese"; others
-- stay on the number's skill.
local skills = { en = "english", zh = "chinese" }

return function(call, agents)
  local skill = skills[call.facts.lang or ""]
  if skill then
    return { skill = skill, min_proficiency = 5, note = "ivr language " .. call.facts.lang }
  end
end
