-- Sample calls for the example rules (rules/ccroute-rule-check RULE samples.lua). Each example
-- has its own expectations, named after the rule: tests/e2e/rule_examples.sh runs them all.
local team = {
  { extension = "101", name = "Ann", skills = { main = 3, english = 8, senior = 5 }, idle_seconds = 300,
    calls_today = 12, talk_seconds_today = 1500 },
  { extension = "102", name = "Ben", skills = { main = 8, chinese = 6 }, idle_seconds = 120,
    calls_today = 2, talk_seconds_today = 2400 },
  { extension = "103", name = "Cat", skills = { main = 5 }, idle_seconds = 60,
    calls_today = 4, talk_seconds_today = 300 },
}
local function call(t)
  local c = { caller = "+819055556666", dialed = "+81312345678", skill = "main", year = 2026,
              month = 11, day = 25, hour = 10, minute = 0, wday = 3, holiday = false, facts = {} }
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

return {
  business_hours = {
    { name = "weekday morning", call = call(), agents = team, expect = "default" },
    { name = "weekday night", call = call({ hour = 21 }), agents = team, expect = "forward after_hours" },
    { name = "holiday", call = call({ holiday = true }), agents = team, expect = "forward after_hours" },
    { name = "saturday morning", call = call({ wday = 6, hour = 10 }), agents = team, expect = "skill senior 0" },
    { name = "sunday", call = call({ wday = 7 }), agents = team, expect = "forward after_hours" },
  },
  vip_callers = {
    { name = "listed vip", call = call({ caller = "+819011112222" }), agents = team, expect = "agents 102 priority 9" },
    { name = "vip by fact", call = call({ facts = { vip = "1" } }), agents = team, expect = "agents 102 priority 9" },
    { name = "vip, nobody free", call = call({ caller = "+819033334444" }), agents = {}, expect = "default priority 9" },
    { name = "anyone else", call = call(), agents = team, expect = "default" },
  },
  ivr_language = {
    { name = "english", call = call({ facts = { lang = "en" } }), agents = team, expect = "skill english 5" },
    { name = "chinese", call = call({ facts = { lang = "zh" } }), agents = team, expect = "skill chinese 5" },
    { name = "japanese", call = call({ facts = { lang = "ja" } }), agents = team, expect = "default" },
    { name = "no choice", call = call(), agents = team, expect = "default" },
  },
  overflow_by_load = {
    { name = "three free", call = call(), agents = team, expect = "default" },
    { name = "two free", call = call(), agents = { team[1], team[2] }, expect = "overflow" },
    { name = "two free, priority lane", call = call({ facts = { lane = "priority" } }),
      agents = { team[1], team[2] }, expect = "default" },
  },
  spread_talk_time = {
    { name = "least loaded first", call = call(), agents = team, expect = "agents 103,101,102" },
    { name = "nobody free", call = call(), agents = {}, expect = "default" },
  },
}
