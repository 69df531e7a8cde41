"""How fast `facezoo --help` answers and whether `import zoo` stays free of TensorFlow/Keras.

Target: `facezoo --help` under 1 s on this machine. Prints the time of `--help`, of a bare Python
start-up (the floor), their ratio, and which heavy modules `import zoo, hub` pulled in.
"""
import subprocess
import sys
import time


def best_of(cmd, n=5):
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t)
    return best


def main():
    floor = best_of([sys.executable, "-c", "pass"])
    help_s = best_of([sys.executable, "-m", "recipes.cli", "--help"])
    heavy = subprocess.run(
        [sys.executable, "-c", "import sys, zoo, hub; print(sorted(m for m in ('tensorflow', 'keras', 'jax', "
         "'cv2', 'huggingface_hub') if m in sys.modules))"], capture_output=True, text=True, check=True)
    print(f"python start-up      {floor * 1000:7.1f} ms")
    print(f"facezoo --help       {help_s * 1000:7.1f} ms   ({help_s / floor:.2f}x start-up; target < 1000 ms: "
          f"{'OK' if help_s < 1 else 'MISSED'})")
    print(f"heavy modules after `import zoo, hub`: {heavy.stdout.strip()}")


if __name__ == "__main__":
    main()
