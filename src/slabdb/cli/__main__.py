from slabdb.cli.main import main

main()
