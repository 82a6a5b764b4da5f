local random = math.random
local hits = 0
for i = 1, 10000000 do
  local x = random()
  local y = random()
  if x * x + y * y < 1.0 then hits = hits + 1 end
end
print(4.0 * hits / 10000000)
