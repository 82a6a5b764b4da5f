local m = {}
for i = 0, 1000000 - 1 do
  m[i] = i * 2
end
local s = 0
for i = 0, 1000000 - 1 do
  s = s + m[i]
end
print(s)
