# Astro Runtime for Airflow 3.3. Tags are <airflow major.minor>-<runtime build>. 3.3-8 is the newest
# 3.3 build seen in public projects when this was pinned (3.3-1, -2, -6, -8 are known; -6 ships
# Airflow 3.3.1). Before bumping, confirm the Airflow inside with
#   docker run --rm astrocrpublic.azurecr.io/runtime:3.3-<N> airflow version
# and keep requirements.txt's provider pins; tests/unit/test_project_pins.py checks they agree.
FROM astrocrpublic.azurecr.io/runtime:3.3-8
