from incidentbook.cli import main

main()
