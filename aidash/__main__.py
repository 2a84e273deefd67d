from aidash.cli import main

main()
