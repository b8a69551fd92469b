"""Write a good submission, then never finish: a timeout must not count as a success."""
import time

import honest_knn

honest_knn.main()
print("SUBMITTED, now hanging", flush=True)
while True:
    time.sleep(1)
