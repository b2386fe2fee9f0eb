"""Test configuration: float64 is on so that exact identities can be checked to ~1e-12.

float32 tests pass ``dtype=jnp.float32`` explicitly; the library must keep the input dtype.
"""

import jax

jax.config.update("jax_enable_x64", True)
