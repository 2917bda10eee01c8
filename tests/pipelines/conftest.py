"""Training tests run torch on one thread: on a shared 2-core machine its default pool makes
small operations many times slower (see the style guide's pitfalls)."""
import torch

torch.set_num_threads(1)
