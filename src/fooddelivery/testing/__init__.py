"""The test kit shipped with the library: builders, the port contract suites and the conformance scenarios.

Install it with the ``testing`` extra (``pip install 'fooddelivery[testing]'``: it needs pytest). A separately
installed adapter package (``fooddelivery_aws``, ``fooddelivery_azure``, ``fooddelivery_gcp``, or your own) proves
itself with it, without reaching into this repository's ``tests``:

- :mod:`fooddelivery.testing.builders` -- fully populated domain objects (``make_order``, ``make_driver``...);
- :mod:`fooddelivery.testing.contracts` -- one contract suite per port (``OrderRepositoryContract``...,
  ``OrderUnitOfWorkContract`` for a store's native unit of work): subclass it in a ``Test*`` class and provide the
  fixture that builds the adapter;
- :mod:`fooddelivery.testing.conformance` -- the business scenarios (place, pay, decline, retries, timeout,
  reject, cancel, duplicate deliveries, crashes at every saga step, a driver race, bad input) over a whole
  adapter set;
- :mod:`fooddelivery.testing.lifecycle` -- one order (or many) driven from placement to delivery on an adapter
  set (``deliver_orders``), the adapter sets whose costs are compared (``boot_adapter_set``), and the store calls
  one lifecycle makes on any application (``count_lifecycle_store_calls``, against
  ``NATIVE_LIFECYCLE_STORE_CALLS``, or ``COMPOSED_LIFECYCLE_STORE_CALLS`` for a unit composed of the two ports);
- :mod:`fooddelivery.testing.http_parity` -- one list of HTTP requests every entrypoint must answer alike;
- :mod:`fooddelivery.testing.plugin` -- the pytest plugin (``pytest_plugins = ["fooddelivery.testing.plugin"]``
  in a ``conftest.py``): rewrites the kit's ``assert`` statements and prints one conformance summary line per
  adapter set.
"""

__all__: list[str] = []
