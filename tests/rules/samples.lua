-- One call and three ready agents, for the sandbox's attack tests.
return {
  {
    name = "call",
    call = { caller = "+819011112222", dialed = "+81312345678", skill = "main", year = 2026,
             month = 11, day = 27, hour = 10, minute = 30, wday = 5, holiday = false,
             facts = { ivr = "2", lang = "ja" } },
    agents = {
      { extension = "101", name = "Ann", skills = { main = 3, japanese = 8 }, idle_seconds = 300,
        calls_today = 5, talk_seconds_today = 900 },
      { extension = "102", name = "Ben", skills = { main = 8 }, idle_seconds = 120,
        calls_today = 2, talk_seconds_today = 300 },
      { extension = "103", name = "Cat", skills = { main = 5, english = 9 }, idle_seconds = 60,
        calls_today = 9, talk_seconds_today = 2000 },
    },
  },
}
