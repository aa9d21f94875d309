"""creditbook's app: `streamlit run simulator/app/main.py` (or `make app`).

Five pages on top of simulator/ and engine.billing, holding no business logic of their own: the
what-if simulator, pricebook comparison, the pricebook inspector, and, for support staff behind
the admin login, a clinic's wallet and the admin console.

The pages live in views/, not pages/: Streamlit lists a `pages/` folder beside the main script as
an app of its own, which is what a bookmarked /admin showed before anyone had opened /."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `streamlit run` puts only the script's folder on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from simulator.app.access import logout_button  # noqa: E402
from simulator.app.display import page_style  # noqa: E402
from simulator.app.services import error_boundary  # noqa: E402

st.set_page_config(page_title="creditbook", page_icon=":material/toll:", layout="wide")
page_style()
pages = [
    st.Page("views/simulator.py", title="Simulator", icon=":material/insights:", default=True),
    st.Page("views/compare.py", title="Compare pricebooks", icon=":material/compare_arrows:"),
    st.Page("views/inspector.py", title="Pricebook inspector", icon=":material/fact_check:"),
    st.Page("views/wallet.py", title="Clinic wallet", icon=":material/account_balance_wallet:"),
    st.Page("views/admin.py", title="Admin", icon=":material/admin_panel_settings:"),
]
page = st.navigation(pages)
logout_button()
error_boundary(page.run)
