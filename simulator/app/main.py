"""creditbook's app: `streamlit run simulator/app/main.py` (or `make app`).

Five pages on top of simulator/ and engine.billing, holding no business logic of their own:
the what-if simulator, pricebook comparison, the pricebook inspector, a clinic's wallet and the
admin console."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `streamlit run` puts only the script's folder on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="creditbook", page_icon=":material/toll:", layout="wide")
pages = [
    st.Page("pages/simulator.py", title="Simulator", icon=":material/insights:", default=True),
    st.Page("pages/compare.py", title="Compare pricebooks", icon=":material/compare_arrows:"),
    st.Page("pages/inspector.py", title="Pricebook inspector", icon=":material/fact_check:"),
    st.Page("pages/wallet.py", title="Clinic wallet", icon=":material/account_balance_wallet:"),
    st.Page("pages/admin.py", title="Admin", icon=":material/admin_panel_settings:"),
]
st.navigation(pages).run()
