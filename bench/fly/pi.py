import random
rnd = random.random
hits = 0
for i in range(10000000):
    x = rnd()
    y = rnd()
    if x * x + y * y < 1.0:
        hits += 1
print(4.0 * hits / 10000000)
