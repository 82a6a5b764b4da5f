m = {}
for i in range(1000000):
    m[i] = i * 2
s = 0
for i in range(1000000):
    s += m[i]
print(s)
