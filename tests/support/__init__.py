"""What the tests share that is not a fixture: paths of the shipped pricebooks, the injected clock,
throw-away PostgreSQL databases, ledgers wired for a test, workbook writers, threads released
together, the payment providers' stubs and harness, the reliability battery's ledger, and readers
of the Streamlit app's pages. Fixtures stay in the conftest.py files, which import from here."""
