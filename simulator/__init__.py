"""What-if simulations and the Streamlit app: built in a later issue."""
